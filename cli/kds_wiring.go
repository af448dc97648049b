package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/kds"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/token"
	"github.com/meshc/meshc/zone"
)

// Version is meshc's version as zones report it to the global.
var Version = "dev"

// kdsGlobalFlags are the KDS flags of `meshc global`.
func kdsGlobalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kds-addr", Value: ":5685", Usage: "KDS (zone sync, gRPC over TLS) address (host:port; port 0 picks one)"},
		&cli.StringFlag{Name: "kds-tls-cert", Usage: "KDS TLS certificate `FILE` (default: self-signed, kept in the state dir as kds-server.crt)"},
		&cli.StringFlag{Name: "kds-tls-key", Usage: "KDS TLS key `FILE`"},
		&cli.StringSliceFlag{Name: "kds-tls-san", Usage: "extra host `NAME`s or IPs for the self-signed KDS certificate"},
	}
}

// kdsGlobalConfig is what the KDS flags of `meshc global` say.
type kdsGlobalConfig struct {
	Addr, CertFile, KeyFile string
	SANs                    []string
}

func kdsGlobalConfigFrom(c *cli.Context) kdsGlobalConfig {
	return kdsGlobalConfig{Addr: c.String("kds-addr"), CertFile: c.String("kds-tls-cert"), KeyFile: c.String("kds-tls-key"), SANs: c.StringSlice("kds-tls-san")}
}

// newKDSGlobal binds the global's KDS server and registers its zone API and
// metrics on srv; the returned function serves KDS until ctx ends. Its state
// (token signing key, mesh CAs, self-signed TLS, zone registry) lives in stateDir.
// Without a stateDir they live in a temporary directory removed at exit (a
// quick try; zone tokens are then issued with `--state-dir` naming it).
func newKDSGlobal(cfg kdsGlobalConfig, stateDir string, bundles kds.BundleSource, srv *api.Server, log *slog.Logger) (run func(context.Context) error, err error) {
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "meshc-global-"); err != nil {
			return nil, fmt.Errorf("kds: no --state-dir and no temporary one: %w", err)
		}
		log.Warn("no --state-dir: zone token key, mesh CAs and KDS certificate are temporary (issue zone tokens with `meshc token zone --state-dir "+stateDir+"`)", "dir", stateDir)
		tmp := stateDir
		defer func() { // removed when serving ends, or now if it cannot start
			if err != nil {
				os.RemoveAll(tmp)
				return
			}
			serve := run
			run = func(ctx context.Context) error { defer os.RemoveAll(tmp); return serve(ctx) }
		}()
	}
	iss, created, err := token.LoadOrCreate(stateDir)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the zone token signing key", "file", stateDir+"/"+token.KeyFile)
	}
	creds, err := kds.ServerCredentials(cfg.CertFile, cfg.KeyFile, stateDir, cfg.SANs, time.Now())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kds: listen %s: %w (choose another --kds-addr)", cfg.Addr, err)
	}
	ks := kds.NewServer(kds.ServerOptions{Bundles: bundles, CAs: kds.FileCAs{Dir: stateDir}, Tokens: iss, Log: log, StateDir: stateDir})
	if err := ks.RegisterMetrics(srv.Registry); err != nil {
		ln.Close()
		return nil, err
	}
	ks.RegisterAPI(srv.Mux)
	return func(ctx context.Context) error { return ks.Serve(ctx, ln, creds) }, nil
}

// kdsZoneFlags are the flags of `meshc zone` that connect it to a global.
func kdsZoneFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "global", Usage: "the global's KDS `URL`: grpcs://HOST:5685"},
		&cli.StringFlag{Name: "token-file", Usage: "`FILE` with the zone token (`meshc token zone --name NAME` on the global)"},
		&cli.StringFlag{Name: "ca-cert", Usage: "PEM `FILE` the global's KDS certificate is verified with (its kds-server.crt, or its CA)"},
	}
}

// newKDSZone returns the zone's link to the global (--global, --token-file,
// --ca-cert). It hands a persisted global state in stateDir to sink at once;
// run Client.Run to connect.
func newKDSZone(c *cli.Context, zone, stateDir string, sink kds.Sink, source kds.Source, log *slog.Logger) (*kds.Client, error) {
	if c.String("token-file") == "" {
		return nil, fmt.Errorf("--global needs --token-file (issue a token on the global: `meshc token zone --name %s`)", zone)
	}
	tlsConf, err := kds.ClientTLS(c.String("ca-cert"))
	if err != nil {
		return nil, err
	}
	return kds.NewClient(kds.ClientOptions{
		Zone: zone, Global: c.String("global"), TokenFile: c.String("token-file"), TLS: tlsConf,
		StateDir: stateDir, AgentVersion: Version, Sink: sink, Source: source, Log: log,
	})
}

// globalFeed connects the zone to the global: the agent gets the bundle,
// mesh CAs and remote ingresses; the global gets the zone's registry.
// GET /global shows the link's status.
func (z *zoneRuntime) globalFeed(c *cli.Context) (func(context.Context) error, error) {
	src := kds.NewRegistrySource(z.agent.Registry(), z.agent.Bundle)
	client, err := newKDSZone(c, z.flags.name, z.flags.stateDir, agentSink{z.agent}, src, z.log)
	if err != nil {
		src.Close()
		return nil, err
	}
	z.api.Mux.HandleFunc("GET /global", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, client.Status())
	})
	return func(ctx context.Context) error {
		defer src.Close()
		return client.Run(ctx)
	}, nil
}

// agentSink hands what the global sends to the zone agent.
type agentSink struct{ a *zone.Agent }

// Apply checks every CA before installing anything, so a bad one changes nothing.
func (s agentSink) Apply(g kds.GlobalState) error {
	for _, ca := range g.CAs {
		if _, err := pki.ParseCA(ca.Mesh, ca.CertPEM, ca.KeyPEM); err != nil {
			return err
		}
	}
	for _, ca := range g.CAs {
		if err := s.a.SetMeshCA(ca.Mesh, ca.CertPEM, ca.KeyPEM); err != nil {
			return err
		}
	}
	s.a.SetRemoteIngresses(g.RemoteIngresses)
	s.a.SetBundle(g.Bundle)
	return nil
}
