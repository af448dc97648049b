package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/dns"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/reconciler"
	"github.com/meshc/meshc/xds"
	"github.com/meshc/meshc/zone"
)

func zoneCommand() *cli.Command {
	return &cli.Command{
		Name:  "zone",
		Usage: "run a zone control plane (standalone from a directory, or synced from a global)",
		Description: "A standalone zone (--standalone --dir DIR) compiles DIR itself, watches it, and serves\n" +
			"its dataplanes over xDS. The xDS server is TLS with dataplane tokens unless --dev.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "name", Required: true, Usage: "the zone's name"},
			&cli.BoolFlag{Name: "standalone", Usage: "no global: compile --dir and generate mesh CAs locally"},
			&cli.StringFlag{Name: "dir", Usage: "the mesh definitions `DIR` of a standalone zone (watched)"},
			&cli.StringFlag{Name: "state-dir", Usage: "where the zone persists CAs, keys and the last good bundle (default ./meshc-zone-<name>)"},
			&cli.StringFlag{Name: "api-addr", Value: ":5681", Usage: "HTTP API address"},
			&cli.StringFlag{Name: "xds-addr", Value: ":5678", Usage: "xDS (ADS) gRPC address"},
			&cli.BoolFlag{Name: "dev", Usage: "plaintext xDS and no dataplane tokens (local runs and tests only)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug|info|warn|error"},
		}, append(kdsZoneFlags(), zoneDNSFlags()...)...),
		Action: runZone,
	}
}

func runZone(c *cli.Context) error {
	log, err := zoneLogger(c.String("log-level"))
	if err != nil {
		return cli.Exit("zone: "+err.Error(), ExitNoRun)
	}
	dnsCfg, err := parseZoneDNS(c)
	if err != nil {
		return cli.Exit("zone: "+err.Error(), ExitNoRun)
	}
	z, err := startZone(c.Context, zoneFlags{
		name: c.String("name"), stateDir: c.String("state-dir"), apiAddr: c.String("api-addr"),
		xdsAddr: c.String("xds-addr"), dev: c.Bool("dev"), standalone: c.Bool("standalone"), dns: &dnsCfg,
	}, log)
	if err != nil {
		return cli.Exit("zone: "+err.Error(), ExitNoRun)
	}
	var feed func(context.Context) error
	switch {
	case c.Bool("standalone"):
		if c.String("dir") == "" {
			return cli.Exit("zone: --standalone needs --dir DIR (the mesh definitions)", ExitNoRun)
		}
		feed, err = z.standaloneFeed(c.String("dir"))
		if err != nil {
			return cli.Exit("zone: "+err.Error(), ExitNoRun)
		}
	case c.String("global") != "":
		if feed, err = z.globalFeed(c); err != nil {
			return cli.Exit("zone: "+err.Error(), ExitNoRun)
		}
	default:
		return cli.Exit("zone: give --global grpcs://HOST:5685 --token-file F (or --standalone --dir DIR)", ExitNoRun)
	}
	if err := z.run(c.Context, feed); err != nil {
		return cli.Exit("zone: "+err.Error(), ExitNoRun)
	}
	return nil
}

// zoneFlags are the settings every zone mode shares.
type zoneFlags struct {
	name, stateDir, apiAddr, xdsAddr string
	dev, standalone                  bool
	dns                              *zoneDNS // nil: no VIPs and no DNS
}

// zoneRuntime is a zone's servers and agent, bound and ready to run. The
// bundle comes from a feed: standaloneFeed (a watched dir) or, with
// --global, the KDS client (which calls z.agent.SetBundle, SetRemoteIngresses
// and SetMeshCA).
type zoneRuntime struct {
	log   *slog.Logger
	flags zoneFlags
	agent *zone.Agent
	api   *api.Server
	xds   *xds.Server
	grpc  *grpc.Server
	xdsLn net.Listener
	ctx   context.Context
	dns   *dns.Server // nil without DNS
}

// startZone binds the API and xDS listeners and builds the agent.
func startZone(ctx context.Context, f zoneFlags, log *slog.Logger) (*zoneRuntime, error) {
	if f.stateDir == "" {
		f.stateDir = "meshc-zone-" + f.name
	}
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	log = log.With("zone", f.name)
	z := &zoneRuntime{log: log, flags: f, ctx: ctx}
	var err error
	if z.api, err = api.Listen(f.apiAddr, log); err != nil {
		return nil, err
	}
	if z.xdsLn, err = net.Listen("tcp", f.xdsAddr); err != nil {
		return nil, fmt.Errorf("xds: listen %s: %w (choose another --xds-addr)", f.xdsAddr, err)
	}
	info := zone.XDSInfo{Port: z.xdsLn.Addr().(*net.TCPAddr).Port}
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1 << 16),
	}
	var tokens *zone.Tokens
	if !f.dev {
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		if host, _, _ := net.SplitHostPort(f.xdsAddr); host != "" && host != "0.0.0.0" && host != "::" {
			hosts = append(hosts, host)
		}
		cert, certPEM, err := pki.LoadOrCreateServerCert(f.stateDir, "xds-server", hosts, time.Now())
		if err != nil {
			return nil, err
		}
		info.TLS, info.CACert = true, string(certPEM)
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
		if tokens, err = zone.LoadOrCreateTokens(f.stateDir); err != nil {
			return nil, err
		}
		opts = append(opts, grpc.StreamInterceptor(zone.XDSAuth(tokens, time.Now)))
	}
	z.grpc = grpc.NewServer(opts...)
	var agent *zone.Agent
	var agentReady sync.WaitGroup
	agentReady.Add(1)
	z.xds = xds.NewServer(xds.ServerOptions{Log: log, Registry: z.api.Registry, OnConnect: func(node string, up bool) {
		agentReady.Wait()
		if up {
			agent.Registry().Connected(node)
		} else {
			agent.Registry().Disconnected(node)
		}
	}})
	z.xds.Register(z.grpc)
	disc, err := z.startDNS(f)
	if err != nil {
		agentReady.Done()
		return nil, err
	}
	agent, err = zone.New(zone.Options{
		Zone: f.name, Standalone: f.standalone, StateDir: f.stateDir, Dev: f.dev, Log: log,
		Publisher: zone.XDSPublisher{Server: z.xds, Ctx: ctx}, Registerer: z.api.Registry, XDS: info,
		Discovery: disc,
	})
	agentReady.Done()
	if err != nil {
		return nil, err
	}
	z.agent = agent
	agent.RegisterAPI(z.api)
	z.api.RegisterServiceInsights()
	z.api.RegisterUI("zone " + f.name)
	log.Info("xds listening", "addr", z.xdsLn.Addr().String(), "tls", info.TLS, "tokens", !f.dev)
	return z, nil
}

// standaloneFeed compiles and watches dir with a reconciler (fsnotify,
// last-known-good persisted in the state dir, status at GET /bundle) and
// feeds each new bundle to the agent.
func (z *zoneRuntime) standaloneFeed(dir string) (func(context.Context) error, error) {
	src, err := reconciler.NewDirSource(dir, 0)
	if err != nil {
		return nil, err
	}
	rec, err := reconciler.New(reconciler.Options{Source: src, StateDir: filepath.Join(z.flags.stateDir, "bundle"), Log: z.log, Registry: z.api.Registry})
	if err != nil {
		return nil, err
	}
	z.api.Mux.HandleFunc("GET /bundle", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, rec.Status())
	})
	return func(ctx context.Context) error {
		bundles := rec.Subscribe(ctx)
		errc := make(chan error, 1)
		go func() { errc <- rec.Run(ctx) }()
		for b := range bundles {
			z.agent.SetBundle(b)
		}
		return <-errc
	}, nil
}

// run serves the API and xDS, runs the agent and the feeds until ctx is done
// or one of them fails; then everything stops and run returns.
func (z *zoneRuntime) run(ctx context.Context, feeds ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4+len(feeds))
	spawn := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	spawn("api", func() error { return z.api.Serve(ctx) })
	spawn("agent", func() error { return z.agent.Run(ctx) })
	if z.dns != nil {
		spawn("dns", func() error { return z.dns.Serve(ctx) })
	}
	spawn("xds", func() error {
		if err := z.grpc.Serve(z.xdsLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
	for i, f := range feeds {
		spawn("feed "+strconv.Itoa(i), func() error { return f(ctx) })
	}
	<-ctx.Done()
	z.xds.Close()
	stopped := make(chan struct{})
	go func() { z.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		z.grpc.Stop()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	z.log.Info("zone stopped")
	return errors.Join(all...)
}

func zoneLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
