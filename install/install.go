// Package install renders what it takes to run meshc's control plane as a
// service: Kubernetes manifests (the global as a Deployment with a persistent
// state volume; a zone agent as a Deployment or a DaemonSet) and systemd units
// for VMs. It only produces text; applying it is the operator's tool's job
// (kubectl apply, Flux, Argo CD, systemctl).
package install

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"
)

// Modes and targets.
const (
	ModeGlobal       = "global"
	ModeZone         = "zone"
	TargetKubernetes = "kubernetes"
	TargetSystemd    = "systemd"
)

// Options describe the control plane to install.
type Options struct {
	Mode   string // global | zone
	Target string // kubernetes | systemd

	// Kubernetes.
	Namespace string
	Image     string
	DaemonSet bool // zone agent on every node instead of a Deployment

	// systemd.
	Binary string // path of the meshc binary on the VM

	// Global.
	GitURL, Ref, Path string
	Poll              time.Duration
	WebhookSecret     bool // mount/read a webhook secret file

	// Zone.
	Zone      string
	GlobalURL string // grpcs://host:5685
}

//go:embed templates/*.tmpl
var templates embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"quote":       func(s string) string { return fmt.Sprintf("%q", s) },
	"systemdExec": systemdExec,
}).ParseFS(templates, "templates/*.tmpl"))

// Validate reports every missing or wrong option, each naming its flag.
func (o *Options) Validate() error {
	var errs []error
	switch o.Mode {
	case ModeGlobal:
		if o.GitURL == "" {
			errs = append(errs, errors.New("--git: the global needs the Git remote holding the mesh definitions"))
		}
	case ModeZone:
		if !isDNSLabel(o.Zone) {
			errs = append(errs, fmt.Errorf("--name %q: a zone name is an RFC 1123 label (lowercase letters, digits, '-')", o.Zone))
		}
		if u, err := url.Parse(o.GlobalURL); err != nil || (u.Scheme != "grpcs" && u.Scheme != "grpc") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--global %q: want grpcs://HOST:5685", o.GlobalURL))
		}
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want global or zone", o.Mode))
	}
	switch o.Target {
	case TargetKubernetes:
		if !isDNSLabel(o.Namespace) {
			errs = append(errs, fmt.Errorf("--namespace %q: not an RFC 1123 label", o.Namespace))
		}
		if o.Image == "" {
			errs = append(errs, errors.New("--image: the container image to run is required"))
		}
	case TargetSystemd:
		if !strings.HasPrefix(o.Binary, "/") {
			errs = append(errs, fmt.Errorf("--binary %q: systemd needs an absolute path", o.Binary))
		}
	default:
		errs = append(errs, fmt.Errorf("--target %q: want kubernetes or systemd", o.Target))
	}
	if o.DaemonSet && (o.Mode != ModeZone || o.Target != TargetKubernetes) {
		errs = append(errs, errors.New("--daemonset: only for --mode zone --target kubernetes"))
	}
	return errors.Join(errs...)
}

// Render returns the manifests or unit for o.
func Render(o Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	name := o.Target + "-" + o.Mode + ".tmpl"
	if err := tmpl.ExecuteTemplate(&buf, name, o); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// GlobalArgs are the `meshc global` arguments both targets run with.
func (o Options) GlobalArgs(stateDir, secretFile string) []string {
	args := []string{"global", "--git", o.GitURL, "--ref", o.Ref, "--state-dir", stateDir}
	if o.Path != "" {
		args = append(args, "--path", o.Path)
	}
	if o.Poll > 0 {
		args = append(args, "--poll", o.Poll.String())
	}
	if o.WebhookSecret {
		args = append(args, "--webhook-secret-file", secretFile)
	}
	return args
}

// ZoneArgs are the `meshc zone` arguments both targets run with.
func (o Options) ZoneArgs(stateDir, secretsDir string) []string {
	return []string{"zone", "--name", o.Zone, "--global", o.GlobalURL,
		"--token-file", secretsDir + "/token", "--ca-cert", secretsDir + "/ca.crt", "--state-dir", stateDir}
}

func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// systemdExec writes an ExecStart= command line: each word double-quoted when
// it holds anything but safe characters, and '%' doubled so systemd does not
// read it as a specifier.
func systemdExec(binary string, args []string) string {
	words := make([]string, 0, len(args)+1)
	for _, w := range append([]string{binary}, args...) {
		w = strings.ReplaceAll(w, "%", "%%")
		if strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") != "" {
			w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}
