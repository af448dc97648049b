package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/meshc/meshc/xds"
)

func dpCommand() *cli.Command {
	common := []cli.Flag{
		&cli.StringFlag{Name: "mesh", Usage: "the dataplane's mesh (default: the --dataplane file's)"},
		&cli.StringFlag{Name: "name", Usage: "the dataplane's name (default: the --dataplane file's)"},
		&cli.StringFlag{Name: "cp", Value: "http://127.0.0.1:5681", Usage: "the zone control plane's API URL"},
		&cli.StringFlag{Name: "dataplane", Usage: "the Dataplane resource (YAML or JSON) `FILE`"},
		&cli.StringFlag{Name: "token-file", Usage: "the dataplane token `FILE` (not needed when the zone runs with --dev)"},
		&cli.StringFlag{Name: "xds-addr", Usage: "the zone's xDS address host:port (default: the --cp host and the port the zone reports)"},
		&cli.StringFlag{Name: "admin-addr", Value: "127.0.0.1:9901", Usage: "Envoy's admin address (keep it on loopback)"},
	}
	common = append(common, zoneProxyFlags()...)
	return &cli.Command{
		Name:  "dp",
		Usage: "run a dataplane (Envoy sidecar) against a zone control plane",
		Subcommands: []*cli.Command{
			{
				Name:  "bootstrap",
				Usage: "write the Envoy bootstrap of a dataplane (ADS to the zone, node id <mesh>.<name>)",
				Flags: append(append([]cli.Flag{}, common...),
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout"}),
				Action: dpBootstrap,
			},
			{
				Name:  "run",
				Usage: "register the dataplane, run Envoy with its bootstrap, deregister on exit",
				Flags: append(append([]cli.Flag{}, common...),
					&cli.StringFlag{Name: "envoy-binary", Usage: "Envoy `PATH` (default: envoy on PATH)"},
					&cli.StringFlag{Name: "envoy-log-level", Value: "warning", Usage: "Envoy's --log-level"},
					&cli.StringFlag{Name: "work-dir", Usage: "where the bootstrap is written (default: a temporary directory)"},
					&cli.DurationFlag{Name: "refresh", Value: 15 * time.Second, Usage: "re-register this often, so a restarted zone (whose registry is in memory) learns the dataplane again"},
					&cli.DurationFlag{Name: "drain-time", Value: time.Second, Usage: "on stop: time between deregistering and stopping Envoy, for peers to stop sending to it"}),
				Action: dpRun,
			},
			{
				Name:  "token",
				Usage: "issue a dataplane token (run on the zone's host: the zone serves tokens on loopback only)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "mesh", Required: true},
					&cli.StringFlag{Name: "name", Required: true},
					&cli.StringFlag{Name: "cp", Value: "http://127.0.0.1:5681", Usage: "the zone control plane's API URL"},
					&cli.DurationFlag{Name: "valid-for", Value: 365 * 24 * time.Hour},
				},
				Action: dpToken,
			},
		},
	}
}

// dpSpec is what dp commands know about the dataplane they run.
type dpSpec struct {
	mesh, name, service string
	body                []byte // the Dataplane resource as given
	token               string
	cp                  *url.URL
}

func loadDPSpec(c *cli.Context) (*dpSpec, error) {
	s := &dpSpec{mesh: c.String("mesh"), name: c.String("name")}
	cp, err := url.Parse(c.String("cp"))
	if err != nil || cp.Host == "" || (cp.Scheme != "http" && cp.Scheme != "https") {
		return nil, fmt.Errorf("--cp %q: want the zone's API URL, like http://127.0.0.1:5681", c.String("cp"))
	}
	s.cp = cp
	if f := c.String("dataplane"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read --dataplane: %w", err)
		}
		var meta struct {
			Type       string `json:"type"`
			Mesh       string `json:"mesh"`
			Name       string `json:"name"`
			Networking struct {
				Inbound []struct {
					Tags map[string]string `json:"tags"`
				} `json:"inbound"`
			} `json:"networking"`
		}
		if err := yaml.Unmarshal(data, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if meta.Type != "Dataplane" {
			return nil, fmt.Errorf("%s: type is %q, want Dataplane", f, meta.Type)
		}
		if s.mesh == "" {
			s.mesh = meta.Mesh
		}
		if s.name == "" {
			s.name = meta.Name
		}
		if meta.Mesh != s.mesh || meta.Name != s.name {
			return nil, fmt.Errorf("%s: the file names %s/%s but the flags say %s/%s", f, meta.Mesh, meta.Name, s.mesh, s.name)
		}
		if len(meta.Networking.Inbound) > 0 {
			s.service = meta.Networking.Inbound[0].Tags["kuma.io/service"]
		}
		s.body = data
	}
	if s.mesh == "" || s.name == "" {
		return nil, errors.New("give --mesh and --name, or a --dataplane file that has them")
	}
	if f := c.String("token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read --token-file: %w", err)
		}
		s.token = strings.TrimSpace(string(b))
	}
	return s, nil
}

func (s *dpSpec) url(path string) string {
	u := *s.cp
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String()
}

// call sends a request to the zone API and decodes a JSON answer into out.
func (s *dpSpec) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url(path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the zone running? check --cp)", method, s.url(path), err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Title   string `json:"title"`
			Details string `json:"details"`
		}
		if json.Unmarshal(data, &e) == nil && e.Title != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Title, e.Details)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}

// xdsInfo is the zone's GET /dataplane-bootstrap answer.
type xdsInfo struct {
	XDSPort int    `json:"xdsPort"`
	TLS     bool   `json:"tls"`
	CACert  string `json:"caCert,omitempty"`
}

func (s *dpSpec) bootstrap(ctx context.Context, c *cli.Context) ([]byte, error) {
	var info xdsInfo
	if err := s.call(ctx, http.MethodGet, "/dataplane-bootstrap", nil, &info); err != nil {
		return nil, err
	}
	addr := c.String("xds-addr")
	if addr == "" {
		addr = net.JoinHostPort(s.cp.Hostname(), fmt.Sprint(info.XDSPort))
	}
	return xds.BootstrapJSON(xds.BootstrapOptions{
		Mesh: s.mesh, Name: s.name, Cluster: s.service,
		XDSAddress: addr, TLS: info.TLS, CACertPEM: []byte(info.CACert), Token: s.token,
		AdminAddress: c.String("admin-addr"),
	})
}

func dpBootstrap(c *cli.Context) error {
	if isZoneProxy(c) {
		return zoneProxyBootstrap(c)
	}
	s, err := loadDPSpec(c)
	if err != nil {
		return cli.Exit("dp bootstrap: "+err.Error(), ExitNoRun)
	}
	js, err := s.bootstrap(c.Context, c)
	if err != nil {
		return cli.Exit("dp bootstrap: "+err.Error(), ExitNoRun)
	}
	if out := c.String("output"); out != "" {
		return os.WriteFile(out, js, 0o600)
	}
	_, err = c.App.Writer.Write(append(js, '\n'))
	return err
}

func dpRun(c *cli.Context) error {
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	if isZoneProxy(c) {
		return zoneProxyRun(c, log)
	}
	s, err := loadDPSpec(c)
	if err != nil {
		return cli.Exit("dp run: "+err.Error(), ExitNoRun)
	}
	if s.body == nil {
		return cli.Exit("dp run: --dataplane FILE is required (the Dataplane to register)", ExitNoRun)
	}
	envoy, err := findEnvoy(c.String("envoy-binary"))
	if err != nil {
		return cli.Exit("dp run: "+err.Error(), ExitNoRun)
	}
	ctx := c.Context
	if err := s.call(ctx, http.MethodPut, "/meshes/"+s.mesh+"/dataplanes/"+s.name, s.body, nil); err != nil {
		return cli.Exit("dp run: register: "+err.Error(), ExitNoRun)
	}
	log.Info("dataplane registered", "mesh", s.mesh, "name", s.name, "cp", s.cp.String())
	leave := sync.OnceFunc(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.call(dctx, http.MethodDelete, "/meshes/"+s.mesh+"/dataplanes/"+s.name, nil, nil); err != nil {
			log.Error("deregister failed", "err", err)
		} else {
			log.Info("dataplane deregistered", "mesh", s.mesh, "name", s.name)
		}
	})
	defer leave()
	js, err := s.bootstrap(ctx, c)
	if err != nil {
		return cli.Exit("dp run: "+err.Error(), ExitNoRun)
	}
	printOutbounds(ctx, c.App.ErrWriter, s)
	return runEnvoy(c, log, envoy, js, s.mesh+"-"+s.name, func(ctx context.Context) error {
		return s.call(ctx, http.MethodPut, "/meshes/"+s.mesh+"/dataplanes/"+s.name, s.body, nil)
	}, leave)
}

// runEnvoy writes the bootstrap js into --work-dir (or a temporary directory)
// and runs Envoy with it until Envoy exits or meshc is told to stop (then
// Envoy gets SIGTERM and time to drain). Every --refresh it calls register
// again (the zone may have restarted and forgotten the proxy). On a stop it
// first calls leave (deregister), so the zone removes the proxy from its
// peers' endpoints, waits --drain-time for that to reach them, and only
// then stops Envoy: in-flight and new requests are not sent to a dead proxy.
func runEnvoy(c *cli.Context, log *slog.Logger, envoy string, js []byte, label string, register func(context.Context) error, leave func()) error {
	ctx := c.Context
	var err error
	dir := c.String("work-dir")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "meshc-dp-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	bpath := filepath.Join(dir, "bootstrap-"+label+".json")
	if err := os.WriteFile(bpath, js, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(envoy, "-c", bpath, "--disable-hot-restart", "--log-level", c.String("envoy-log-level"),
		"--drain-time-s", "1", "--parent-shutdown-time-s", "2")
	cmd.Stdout, cmd.Stderr = c.App.Writer, c.App.ErrWriter
	if err := cmd.Start(); err != nil {
		return cli.Exit(fmt.Sprintf("dp run: start %s: %v", envoy, err), ExitNoRun)
	}
	log.Info("envoy started", "pid", cmd.Process.Pid, "bootstrap", bpath)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	refresh := time.NewTicker(max(c.Duration("refresh"), time.Second))
	defer refresh.Stop()
	// SIGUSR1 (reopen access logs) and SIGHUP go to Envoy as they are;
	// SIGINT/SIGTERM end meshc's context and stop Envoy below.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for ctx.Err() == nil {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			if err != nil {
				return cli.Exit("dp run: envoy exited: "+err.Error(), ExitInvalid)
			}
			return nil
		case <-refresh.C:
			if err := register(ctx); err != nil && ctx.Err() == nil {
				log.Warn("re-register failed; Envoy keeps its last config", "err", err)
			}
		case <-ctx.Done():
		}
	}
	// meshc got SIGINT/SIGTERM: deregister, let peers drop this proxy, then
	// forward SIGTERM and give Envoy time to drain.
	leave()
	select {
	case <-done:
		return nil
	case <-time.After(c.Duration("drain-time")):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
}

func dpToken(c *cli.Context) error {
	s := &dpSpec{}
	cp, err := url.Parse(c.String("cp"))
	if err != nil || cp.Host == "" {
		return cli.Exit("dp token: bad --cp URL", ExitNoRun)
	}
	s.cp = cp
	body, _ := json.Marshal(map[string]string{"mesh": c.String("mesh"), "name": c.String("name"), "validFor": c.Duration("valid-for").String()})
	var out struct {
		Token string `json:"token"`
	}
	if err := s.call(c.Context, http.MethodPost, "/tokens/dataplane", body, &out); err != nil {
		return cli.Exit("dp token: "+err.Error(), ExitNoRun)
	}
	_, err = fmt.Fprintln(c.App.Writer, out.Token)
	return err
}
