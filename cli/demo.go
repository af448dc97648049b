package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/dns"
	"github.com/meshc/meshc/examples"
	"github.com/meshc/meshc/kds"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/token"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a global, two zones and the example services in one process on loopback",
		Description: "Compiles the embedded examples/ repository, serves it from an in-process global control plane\n" +
			"to two zones (zone-a, zone-b) over KDS (TLS, zone tokens), registers example services (web and\n" +
			"backend in zone-a, two backends in zone-b) and, when an Envoy binary is found, runs their sidecars\n" +
			"and each zone's ingress, so cross-zone traffic flows. It prints where to look; Ctrl-C stops everything.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "api-addr", Value: "127.0.0.1:5681", Usage: "the global's HTTP API address (port 0 picks one)"},
			&cli.StringFlag{Name: "state-dir", Usage: "where the demo keeps CAs, tokens and bootstraps (default: a temporary directory, removed on exit)"},
			&cli.StringFlag{Name: "envoy-binary", Usage: "Envoy `PATH` (default: $MESHC_ENVOY, ./.venv/bin/envoy, envoy on PATH)"},
			&cli.BoolFlag{Name: "no-envoy", Usage: "do not run Envoy sidecars and ingresses (control planes only)"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug|info|warn|error"},
		},
		Action: runDemo,
	}
}

// demoZones are the demo's zones and the backend instances each runs.
var demoZones = []struct {
	name     string
	backends []string // versions
}{
	{"zone-a", []string{"v1"}},
	{"zone-b", []string{"v1", "v2"}},
}

func runDemo(c *cli.Context) error {
	log, err := zoneLogger(c.String("log-level"))
	if err != nil {
		return cli.Exit("demo: "+err.Error(), ExitNoRun)
	}
	dir := c.String("state-dir")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "meshc-demo-"); err != nil {
			return cli.Exit("demo: "+err.Error(), ExitNoRun)
		}
		defer os.RemoveAll(dir)
	}
	envoy := ""
	if !c.Bool("no-envoy") {
		if envoy, err = findEnvoy(c.String("envoy-binary")); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "demo: %v\ndemo: running the control planes only (no sidecars, no traffic)\n", err)
			envoy = ""
		}
	}
	d := &demo{log: log, dir: dir, envoy: envoy, out: c.App.Writer}
	if err := d.run(c.Context, c.String("api-addr")); err != nil {
		return cli.Exit("demo: "+err.Error(), ExitNoRun)
	}
	return nil
}

// demo is everything `meshc demo` runs; every part stops when ctx ends.
type demo struct {
	log   *slog.Logger
	dir   string
	envoy string
	out   io.Writer

	wg   sync.WaitGroup
	errs chan error
}

func (d *demo) spawn(ctx context.Context, cancel context.CancelFunc, name string, f func(context.Context) error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := f(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			d.errs <- fmt.Errorf("%s: %w", name, err)
			cancel()
		}
	}()
}

func (d *demo) run(parent context.Context, apiAddr string) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	d.errs = make(chan error, 32)
	defer d.wg.Wait()

	b, err := demoBundle()
	if err != nil {
		return err
	}
	gdir := filepath.Join(d.dir, "global")
	if err := os.MkdirAll(gdir, 0o700); err != nil {
		return err
	}
	global, kdsAddr, err := d.startGlobal(ctx, cancel, gdir, apiAddr, b)
	if err != nil {
		return err
	}
	iss, _, err := token.LoadOrCreate(gdir)
	if err != nil {
		return err
	}
	var zones []*demoZone
	for i, zd := range demoZones {
		z, err := d.startZone(ctx, cancel, zd.name, kdsAddr, filepath.Join(gdir, kds.ServerCertName+".crt"), iss)
		if err != nil {
			return err
		}
		z.backends = zd.backends
		z.withWeb = i == 0
		zones = append(zones, z)
	}
	// Example services (and, with Envoy, their sidecars and the zone ingresses).
	for _, z := range zones {
		if err := d.startServices(ctx, cancel, z); err != nil {
			return err
		}
	}
	d.printWhere(global, zones)
	if err := d.waitReady(ctx, zones); err != nil && ctx.Err() == nil {
		fmt.Fprintf(d.out, "  (not ready yet: %v)\n", err)
	}
	select {
	case <-ctx.Done():
	case err = <-d.errs:
	}
	cancel()
	fmt.Fprintln(d.out, "meshc demo: stopping")
	d.wg.Wait()
	close(d.errs)
	all := []error{err}
	for e := range d.errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

// demoBundle compiles the embedded examples.
func demoBundle() (*compiler.Bundle, error) {
	rs, errs := schema.LoadFS(examples.FS, ".", "examples/")
	if errs.HasErrors() {
		return nil, fmt.Errorf("embedded examples: %w", errs)
	}
	b, errs := compiler.Compile(rs, compiler.Options{Commit: "embedded"})
	if errs.HasErrors() {
		return nil, fmt.Errorf("embedded examples: %w", errs)
	}
	return b, nil
}

// startGlobal serves the global's API and KDS (TLS, zone tokens) with b.
func (d *demo) startGlobal(ctx context.Context, cancel context.CancelFunc, dir, apiAddr string, b *compiler.Bundle) (*api.Server, string, error) {
	log := d.log.With("cp", "global")
	srv, err := api.Listen(apiAddr, log)
	if err != nil {
		return nil, "", err
	}
	iss, _, err := token.LoadOrCreate(dir)
	if err != nil {
		return nil, "", err
	}
	creds, err := kds.ServerCredentials("", "", dir, nil, time.Now())
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	bundles := &kds.StaticBundles{}
	bundles.Set(b)
	ks := kds.NewServer(kds.ServerOptions{Bundles: bundles, CAs: kds.FileCAs{Dir: dir}, Tokens: iss, Log: log, StateDir: dir})
	if err := ks.RegisterMetrics(srv.Registry); err != nil {
		ln.Close()
		return nil, "", err
	}
	ks.RegisterAPI(srv.Mux)
	srv.Mux.HandleFunc("GET /bundle", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]any{"version": b.Version, "commit": b.Commit, "source": "embedded examples/", "resources": len(b.Resources)})
	})
	srv.Mux.HandleFunc("GET /meshes", func(w http.ResponseWriter, _ *http.Request) {
		meshes := []schema.Resource{}
		for _, m := range b.OfType(schema.TypeMesh) {
			meshes = append(meshes, *m)
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"total": len(meshes), "items": meshes})
	})
	srv.RegisterServiceInsights()
	srv.RegisterUI("global (demo)")
	d.spawn(ctx, cancel, "global api", srv.Serve)
	d.spawn(ctx, cancel, "global kds", func(ctx context.Context) error { return ks.Serve(ctx, ln, creds) })
	return srv, ln.Addr().String(), nil
}

// demoZone is one zone of the demo.
type demoZone struct {
	name     string
	rt       *zoneRuntime
	backends []string
	withWeb  bool
	webPort  int // web's outbound to backend (with Envoy)
}

func (d *demo) startZone(ctx context.Context, cancel context.CancelFunc, name, kdsAddr, caFile string, iss *token.Issuer) (*demoZone, error) {
	cidrs, err := dns.ParseCIDRs(dns.DefaultVIPCIDR)
	if err != nil {
		return nil, err
	}
	zdir := filepath.Join(d.dir, name)
	rt, err := startZone(ctx, zoneFlags{
		name: name, stateDir: zdir, apiAddr: "127.0.0.1:0", xdsAddr: "127.0.0.1:0", dev: true,
		dns: &zoneDNS{addr: "127.0.0.1:0", ttl: dns.DefaultTTL, grace: dns.DefaultVIPGrace, cidrs: cidrs, meshAddrs: map[string]string{}},
	}, d.log)
	if err != nil {
		return nil, err
	}
	tok, err := iss.IssueZone(name, 24*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	tls, err := kds.ClientTLS(caFile)
	if err != nil {
		return nil, err
	}
	src := kds.NewRegistrySource(rt.agent.Registry(), rt.agent.Bundle)
	client, err := kds.NewClient(kds.ClientOptions{
		Zone: name, Global: "grpcs://" + kdsAddr, Token: tok, TLS: tls, StateDir: zdir,
		AgentVersion: Version, Sink: agentSink{rt.agent}, Source: src, Log: rt.log,
	})
	if err != nil {
		src.Close()
		return nil, err
	}
	rt.api.Mux.HandleFunc("GET /global", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, client.Status())
	})
	d.spawn(ctx, cancel, name, func(ctx context.Context) error {
		return rt.run(ctx, func(ctx context.Context) error {
			defer src.Close()
			return client.Run(ctx)
		})
	})
	return &demoZone{name: name, rt: rt}, nil
}

func (d *demo) printWhere(global *api.Server, zones []*demoZone) {
	w := d.out
	g := "http://" + global.Addr()
	fmt.Fprintln(w, "meshc demo: a global and two zones on loopback, from the embedded examples/ (Ctrl-C stops everything)")
	fmt.Fprintf(w, "  global API:  %s   (GET /zones, /zone-ingresses, /bundle, /metrics)\n", g)
	fmt.Fprintf(w, "  web UI:      %s/\n", g)
	for _, z := range zones {
		fmt.Fprintf(w, "  %s API:  http://%s   (GET /meshes/default/dataplanes, /zone-ingresses, /global)\n", z.name, z.rt.api.Addr())
		if z.rt.dns != nil {
			fmt.Fprintf(w, "  %s DNS:  %s   (dig @%s -p %s backend.mesh)\n", z.name, z.rt.dns.Addr(), hostOf(z.rt.dns.Addr()), portOf(z.rt.dns.Addr()))
		}
	}
	for _, z := range zones {
		if z.webPort == 0 {
			continue
		}
		u := fmt.Sprintf("http://127.0.0.1:%d/", z.webPort)
		fmt.Fprintf(w, "  try:         curl %s\n", u)
		fmt.Fprintf(w, "               (web in %s → backend: locality-aware, so zone-a's instance answers)\n", z.name)
		fmt.Fprintf(w, "               curl -H 'x-canary: true' %s   (90%% zone-a, 10%% zone-b through zone-b's ingress)\n", u)
	}
	if d.envoy == "" {
		fmt.Fprintf(w, "  try:         curl %s/zones   (no Envoy: control planes only)\n", g)
	}
}

func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// waitReady waits (bounded) until web's outbound answers, so the printed curl works.
func (d *demo) waitReady(ctx context.Context, zones []*demoZone) error {
	for _, z := range zones {
		if z.webPort == 0 {
			continue
		}
		u := fmt.Sprintf("http://127.0.0.1:%d/", z.webPort)
		deadline := time.Now().Add(60 * time.Second)
		ok := 0 // consecutive answers: sidecars settle (certificates, clusters) after the first one
		for {
			resp, err := http.Get(u)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// Locality-aware: once every sidecar is up and health-checked,
				// zone-a's own instance answers.
				if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "in "+z.name) {
					if ok++; ok == 20 {
						fmt.Fprintf(d.out, "  ready:       %s", strings.TrimSpace(string(body))+"\n")
						break
					}
					continue
				}
				err = fmt.Errorf("%s: %s %s", u, resp.Status, strings.TrimSpace(string(body)))
			}
			ok = 0
			if time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}
