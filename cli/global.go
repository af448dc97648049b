package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/reconciler"
)

func globalCommand() *cli.Command {
	return &cli.Command{
		Name:  "global",
		Usage: "run the global control plane: Git (or a directory) → validated, compiled bundle → zones",
		Description: `Fetches --ref of the Git remote --git (a path, file://, http(s):// or ssh:// URL) every
--poll and whenever POST /hooks/git is called, validates and compiles each new commit, and
serves the last good bundle. GET /bundle shows the bundle in force, the last attempt and its
errors, and Flux-style conditions. With --dir, a local directory is watched instead.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "git", Usage: "Git remote `URL` holding the mesh definitions"},
			&cli.StringFlag{Name: "ref", Value: "main", Usage: "branch or tag to follow"},
			&cli.StringFlag{Name: "path", Usage: "sub-`DIR` of the repository holding the definitions"},
			&cli.DurationFlag{Name: "poll", Value: 15 * time.Second, Usage: "interval between fetches (0: only on webhook)"},
			&cli.StringFlag{Name: "webhook-secret-file", Usage: "`FILE` with the secret POST /hooks/git signatures (X-Hub-Signature-256) are checked against"},
			&cli.StringFlag{Name: "dir", Usage: "watch the local `DIR` instead of a Git remote"},
			&cli.StringFlag{Name: "state-dir", Usage: "`DIR` persisting the last good bundle (served at start) and the fetched Git objects"},
			&cli.StringFlag{Name: "api-addr", Value: ":5681", Usage: "HTTP API address (host:port; port 0 picks one)"},
			&cli.StringFlag{Name: "git-username", Usage: "username for an http(s) remote"},
			&cli.StringFlag{Name: "git-password-file", Usage: "`FILE` with the password for an http(s) remote"},
			&cli.StringFlag{Name: "git-token-file", Usage: "`FILE` with an access token for an http(s) remote (sent as the basic-auth password)"},
			&cli.StringFlag{Name: "ssh-key-file", Usage: "private key `FILE` for an ssh remote"},
			&cli.StringFlag{Name: "ssh-known-hosts", Usage: "known_hosts `FILE` for an ssh remote (default ~/.ssh/known_hosts)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		}, kdsGlobalFlags()...),
		Action: func(c *cli.Context) error {
			cfg, err := globalConfigFrom(c)
			if err != nil {
				return cli.Exit("meshc global: "+err.Error(), ExitNoRun)
			}
			if err := runGlobal(c.Context, cfg); err != nil {
				return cli.Exit("meshc global: "+err.Error(), ExitInvalid)
			}
			return nil
		},
	}
}

// globalConfig is everything `meshc global` was told.
type globalConfig struct {
	GitURL, Ref, Path string
	Poll              time.Duration
	WebhookSecret     []byte
	Dir               string
	StateDir          string
	APIAddr           string
	Auth              reconciler.GitAuth
	KDS               kdsGlobalConfig
	Log               *slog.Logger
}

func globalConfigFrom(c *cli.Context) (globalConfig, error) {
	cfg := globalConfig{
		GitURL: c.String("git"), Ref: c.String("ref"), Path: c.String("path"), Poll: c.Duration("poll"),
		Dir: c.String("dir"), StateDir: c.String("state-dir"), APIAddr: c.String("api-addr"),
		Auth: reconciler.GitAuth{Username: c.String("git-username"), SSHKeyFile: c.String("ssh-key-file"),
			KnownHostsFile: c.String("ssh-known-hosts")},
		KDS: kdsGlobalConfigFrom(c),
	}
	if (cfg.GitURL == "") == (cfg.Dir == "") {
		return cfg, errors.New("give exactly one of --git URL or --dir DIR")
	}
	var err error
	if cfg.WebhookSecret, err = readSecretFile(c.String("webhook-secret-file"), "--webhook-secret-file"); err != nil {
		return cfg, err
	}
	pw, err := readSecretFile(c.String("git-password-file"), "--git-password-file")
	if err != nil {
		return cfg, err
	}
	tok, err := readSecretFile(c.String("git-token-file"), "--git-token-file")
	if err != nil {
		return cfg, err
	}
	cfg.Auth.Password, cfg.Auth.Token = string(pw), string(tok)
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cfg, fmt.Errorf("--log-level: %w", err)
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return cfg, nil
}

// readSecretFile returns the trimmed content of file ("" → nil).
func readSecretFile(file, flag string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("%s: %s is empty", flag, file)
	}
	return []byte(s), nil
}

// globalPlane is a running global control plane: the HTTP API, the
// reconciler, and every other server started with them (see runGlobal).
type globalPlane struct {
	log *slog.Logger
	api *api.Server
	rec *reconciler.Reconciler
	// run lists the long-running parts; they start together and the first to
	// fail stops the others.
	run     []func(context.Context) error
	cleanup []func()
}

// newGlobalPlane builds the source, the reconciler and the API server (bound,
// not serving yet).
func newGlobalPlane(cfg globalConfig) (*globalPlane, error) {
	g := &globalPlane{log: cfg.Log}
	var src reconciler.Source
	poll := cfg.Poll
	if cfg.Dir != "" {
		ds, err := reconciler.NewDirSource(cfg.Dir, 0)
		if err != nil {
			return nil, err
		}
		src, poll = ds, 0 // fsnotify tells us
	} else {
		storage := ""
		if cfg.StateDir != "" {
			storage = filepath.Join(cfg.StateDir, "git")
		}
		gs, err := reconciler.NewGitSource(reconciler.GitOptions{
			URL: cfg.GitURL, Ref: cfg.Ref, Path: cfg.Path, Auth: cfg.Auth, StorageDir: storage,
		})
		if err != nil {
			return nil, err
		}
		g.cleanup = append(g.cleanup, func() { _ = gs.Close() })
		src = gs
	}
	srv, err := api.Listen(cfg.APIAddr, cfg.Log)
	if err != nil {
		g.close()
		return nil, err
	}
	rec, err := reconciler.New(reconciler.Options{
		Source: src, Poll: poll, StateDir: cfg.StateDir, Log: cfg.Log, Registry: srv.Registry,
	})
	if err != nil {
		g.close()
		return nil, err
	}
	rec.Register(srv.Mux, srv.Registry, cfg.WebhookSecret)
	srv.RegisterServiceInsights()
	srv.RegisterUI("global")
	g.api, g.rec = srv, rec
	g.run = append(g.run, srv.Serve, rec.Run)
	return g, nil
}

func (g *globalPlane) close() {
	for _, f := range g.cleanup {
		f()
	}
}

// runGlobal runs the global control plane until ctx is done (SIGTERM).
func runGlobal(ctx context.Context, cfg globalConfig) error {
	g, err := newGlobalPlane(cfg)
	if err != nil {
		return err
	}
	defer g.close()
	// Further servers of the global are added to g.run here.
	serveKDS, err := newKDSGlobal(cfg.KDS, cfg.StateDir, g.rec, g.api, cfg.Log)
	if err != nil {
		return err
	}
	g.run = append(g.run, serveKDS)
	return g.serve(ctx)
}

// serve runs every part until ctx is done or one fails; it returns when all have stopped.
func (g *globalPlane) serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, run := range g.run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				once.Do(func() { first = err })
				cancel()
			}
		}()
	}
	<-ctx.Done()
	g.log.Info("shutting down")
	wg.Wait()
	if first != nil {
		return first
	}
	g.log.Info("stopped")
	return nil
}
