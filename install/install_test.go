package install

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func globalOpts(target string) Options {
	return Options{Mode: ModeGlobal, Target: target, Namespace: "meshc-system", Image: "ghcr.io/meshc/meshc:1.0",
		Binary: "/usr/local/bin/meshc", GitURL: "https://git.example.com/mesh.git", Ref: "main", Path: "meshes",
		Poll: 30 * time.Second, WebhookSecret: true}
}

func zoneOpts(target string) Options {
	return Options{Mode: ModeZone, Target: target, Namespace: "meshc-system", Image: "ghcr.io/meshc/meshc:1.0",
		Binary: "/usr/local/bin/meshc", Zone: "zone-a", GlobalURL: "grpcs://global.example.com:5685"}
}

// docs parses a multi-document manifest into objects, failing on YAML errors.
func docs(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, d := range strings.Split(string(out), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("invalid YAML document: %v\n%s", err, d)
		}
		if m != nil {
			objs = append(objs, m)
		}
	}
	return objs
}

func kinds(objs []map[string]any) string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o["kind"].(string))
	}
	return strings.Join(ks, ",")
}

func container(t *testing.T, objs []map[string]any, kind string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o["kind"] == kind {
			spec := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			return spec["containers"].([]any)[0].(map[string]any)
		}
	}
	t.Fatalf("no %s", kind)
	return nil
}

func args(c map[string]any) string {
	var s []string
	for _, a := range c["args"].([]any) {
		s = append(s, a.(string))
	}
	return strings.Join(s, " ")
}

func TestKubernetesGlobal(t *testing.T) {
	out, err := Render(globalOpts(TargetKubernetes))
	if err != nil {
		t.Fatal(err)
	}
	objs := docs(t, out)
	if got := kinds(objs); got != "Namespace,ServiceAccount,PersistentVolumeClaim,Deployment,Service" {
		t.Fatalf("kinds: %s", got)
	}
	c := container(t, objs, "Deployment")
	want := "global --git https://git.example.com/mesh.git --ref main --state-dir /var/lib/meshc --path meshes --poll 30s --webhook-secret-file /etc/meshc/webhook/secret"
	if got := args(c); got != want {
		t.Errorf("args:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(string(out), "secretName: meshc-webhook") {
		t.Error("webhook secret not mounted")
	}
}

func TestKubernetesZone(t *testing.T) {
	for _, ds := range []bool{false, true} {
		o := zoneOpts(TargetKubernetes)
		o.DaemonSet = ds
		out, err := Render(o)
		if err != nil {
			t.Fatal(err)
		}
		objs := docs(t, out)
		want := "Namespace,ServiceAccount,PersistentVolumeClaim,Deployment,Service"
		workload := "Deployment"
		if ds {
			want, workload = "Namespace,ServiceAccount,DaemonSet,Service", "DaemonSet"
		}
		if got := kinds(objs); got != want {
			t.Fatalf("daemonset=%v kinds: %s", ds, got)
		}
		c := container(t, objs, workload)
		if got, want := args(c), "zone --name zone-a --global grpcs://global.example.com:5685 --token-file /etc/meshc/zone/token --ca-cert /etc/meshc/zone/ca.crt --state-dir /var/lib/meshc"; got != want {
			t.Errorf("args:\n got %s\nwant %s", got, want)
		}
		if ports := len(c["ports"].([]any)); ports != 4 {
			t.Errorf("%d ports, want API, xDS, DNS UDP and TCP", ports)
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	g, err := Render(globalOpts(TargetSystemd))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/meshc global --git https://git.example.com/mesh.git --ref main --state-dir /var/lib/meshc-global --path meshes --poll 30s --webhook-secret-file /run/credentials/meshc-global.service/webhook-secret\n",
		"LoadCredential=webhook-secret:/etc/meshc/webhook-secret\n", "StateDirectory=meshc-global\n", "[Install]\nWantedBy=multi-user.target",
	} {
		if !strings.Contains(string(g), want) {
			t.Errorf("global unit lacks %q:\n%s", want, g)
		}
	}
	z, err := Render(zoneOpts(TargetSystemd))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(z), "ExecStart=/usr/local/bin/meshc zone --name zone-a --global grpcs://global.example.com:5685 --token-file /run/credentials/meshc-zone.service/token --ca-cert /run/credentials/meshc-zone.service/ca.crt --state-dir /var/lib/meshc-zone\n") {
		t.Errorf("zone unit:\n%s", z)
	}
}

func TestSystemdExecQuoting(t *testing.T) {
	got := systemdExec("/opt/meshc", []string{"global", "--git", "https://u:p%40ss@h/x y.git", `a"b`})
	want := `/opt/meshc global --git "https://u:p%%40ss@h/x y.git" "a\"b"`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestInvalidOptionsNameTheFlag(t *testing.T) {
	cases := []struct {
		o    Options
		want []string
	}{
		{Options{Mode: "gateway", Target: TargetKubernetes, Namespace: "x", Image: "i"}, []string{`--mode "gateway"`}},
		{Options{Mode: ModeGlobal, Target: TargetKubernetes, Namespace: "x", Image: "i"}, []string{"--git"}},
		{Options{Mode: ModeZone, Target: TargetSystemd, Binary: "meshc", Zone: "Zone_A", GlobalURL: "http://g"},
			[]string{`--name "Zone_A"`, `--global "http://g"`, `--binary "meshc"`}},
		{Options{Mode: ModeGlobal, Target: "helm", GitURL: "g", DaemonSet: true}, []string{`--target "helm"`, "--daemonset"}},
		{Options{Mode: ModeGlobal, Target: TargetKubernetes, Namespace: "Bad NS", GitURL: "g"}, []string{"--namespace", "--image"}},
	}
	for _, c := range cases {
		_, err := Render(c.o)
		if err == nil {
			t.Errorf("%+v: no error", c.o)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not name %s", c.o, err, w)
			}
		}
	}
}
