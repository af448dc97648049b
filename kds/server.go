package kds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/meshc/meshc/compiler"
	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/token"
)

// BundleSource gives the global's current bundle and its changes (the
// reconciler implements it). Subscribe's channel delivers every new bundle and is
// closed when ctx ends (reconciler.Reconciler fits).
type BundleSource interface {
	Current() *compiler.Bundle
	Subscribe(ctx context.Context) <-chan *compiler.Bundle
}

// CAProvider returns the CA of a mesh with builtin mTLS, creating and
// persisting it on first need (never in Git).
type CAProvider interface {
	MeshCA(mesh string, spec *schema.MeshSpec) (MeshCA, error)
}

// TokenVerifier checks a zone token and returns the zone it belongs to.
type TokenVerifier interface {
	VerifyZone(tok string, now time.Time) (string, error)
}

var _ TokenVerifier = (*token.Issuer)(nil)

// DefaultMaxMsgSize bounds one KDS message (either direction).
const DefaultMaxMsgSize = 32 << 20

// ServerOptions configures the global's KDS server.
type ServerOptions struct {
	Bundles BundleSource
	CAs     CAProvider
	Tokens  TokenVerifier
	Log     *slog.Logger
	// MaxRecvMsgSize bounds a message from a zone (default DefaultMaxMsgSize);
	// a larger one ends that zone's stream with ResourceExhausted.
	MaxRecvMsgSize int
	// HelloTimeout bounds the wait for a zone's first message (default 10 s).
	HelloTimeout time.Duration
	// StateDir keeps the zone registry (kds-zones.json); empty keeps nothing.
	StateDir string
	Now      func() time.Time
}

// Server is the global's side of KDS: it serves zones, keeps the zone
// registry and inventory, and answers the zone lifecycle API.
type Server struct {
	opts    ServerOptions
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	zones    map[string]*zoneRecord
	bundle   *compiler.Bundle
	bstate   State // bundle + mesh CAs, shared by every zone
	bmeta    meta
	declared map[string]bool // Zone resources in the bundle: name → enabled

	bytesSent atomic.Int64
	saveKick  chan struct{}
}

// NewServer returns a server; call Serve (or Register + Run) to start it.
func NewServer(o ServerOptions) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxRecvMsgSize == 0 {
		o.MaxRecvMsgSize = DefaultMaxMsgSize
	}
	if o.HelloTimeout == 0 {
		o.HelloTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, log: o.Log.With("component", "kds-server"), zones: map[string]*zoneRecord{}, declared: map[string]bool{}, saveKick: make(chan struct{}, 1)}
	s.metrics = newMetrics(s)
	s.loadZones()
	return s
}

// GRPCServerOptions are the options Serve uses (TLS credentials aside).
func (s *Server) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxRecvMsgSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
}

// Register adds the KDS service, and a refusal for Envoy's ADS, to g.
func (s *Server) Register(g *grpc.Server) {
	kdsv1.RegisterKDSServer(g, &kdsService{s: s})
	registerXDSRefusal(g, s.log)
}

// Serve serves KDS on ln with creds until ctx ends (it also runs Run).
func (s *Server) Serve(ctx context.Context, ln net.Listener, creds credentials.TransportCredentials) error {
	opts := s.GRPCServerOptions()
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	g := grpc.NewServer(opts...)
	s.Register(g)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	s.log.Info("kds listening", "addr", ln.Addr().String(), "tls", creds != nil)
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("kds: serve: %w", err)
	case <-ctx.Done():
		g.Stop()
		<-errc
	}
	cancel()
	wg.Wait()
	return err
}

// Run follows the bundle source and saves the zone registry until ctx ends.
func (s *Server) Run(ctx context.Context) {
	saved := make(chan struct{})
	go func() { defer close(saved); s.saveLoop(ctx) }()
	defer func() { <-saved }()
	if b := s.opts.Bundles.Current(); b != nil {
		s.setBundle(b)
	}
	ch := s.opts.Bundles.Subscribe(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-ch:
			if !ok {
				return
			}
			if b != nil {
				s.setBundle(b)
			}
		}
	}
}

// setBundle encodes a new bundle and the CAs of its meshes, applies Zone
// enable/disable and wakes every session.
func (s *Server) setBundle(b *compiler.Bundle) {
	s.mu.Lock()
	same := s.bundle != nil && s.bundle.Version == b.Version
	s.mu.Unlock()
	if same {
		return
	}
	st, err := bundleState(b)
	if err != nil {
		s.log.Error("bundle not sent to zones: cannot encode it", "version", b.Version, "err", err)
		return
	}
	for _, mr := range b.OfType(schema.TypeMesh) {
		ms := mr.MeshSpec()
		if ms == nil || !ms.MTLS.Enabled() {
			continue
		}
		if s.opts.CAs == nil {
			s.log.Error("mesh has mTLS but the global has no CA provider", "mesh", mr.Name)
			continue
		}
		ca, err := s.opts.CAs.MeshCA(mr.Name, ms)
		if err != nil {
			s.log.Error("mesh CA unavailable; zones get the mesh without it", "mesh", mr.Name, "err", err)
			continue
		}
		p, err := caResource(ca)
		if err != nil {
			s.log.Error("encode mesh CA", "mesh", mr.Name, "err", err)
			continue
		}
		st.Put(p)
	}
	declared := map[string]bool{}
	for _, zr := range b.OfType(schema.TypeZone) {
		en := true
		if zs := zr.ZoneSpec(); zs != nil {
			en = zs.Enabled
		}
		declared[zr.Name] = en
	}
	s.mu.Lock()
	s.bundle, s.bstate, s.declared = b, st, declared
	s.bmeta = meta{BundleVersion: b.Version, BundleCommit: b.Commit}
	var stop []*session
	for name, z := range s.zones {
		if z.session != nil && !s.enabledLocked(name) {
			stop = append(stop, z.session)
		}
	}
	s.kickAllLocked("")
	s.mu.Unlock()
	for _, ss := range stop {
		s.log.Warn("zone disabled in Git: closing its KDS stream", "zone", ss.zone)
		ss.cancel(errZoneDisabled(ss.zone))
	}
	s.log.Info("bundle ready for zones", "version", b.Version, "commit", b.Commit, "resources", len(st))
}

func (s *Server) enabledLocked(zone string) bool {
	en, ok := s.declared[zone]
	return !ok || en
}

// kickAllLocked wakes every session but except's.
func (s *Server) kickAllLocked(except string) {
	for name, z := range s.zones {
		if name != except && z.session != nil {
			z.session.wake()
		}
	}
}

// desiredLocked is the state zone should have: the bundle, the CAs and the
// ingresses of every other enabled zone.
func (s *Server) desiredLocked(zone string) (State, meta) {
	st := make(State, len(s.bstate)+8)
	for k, v := range s.bstate {
		st[k] = v
	}
	for name, z := range s.zones {
		if name == zone || !s.enabledLocked(name) {
			continue
		}
		for k, v := range z.ingresses {
			st[k] = v
		}
	}
	return st, s.bmeta
}

// BytesSent is the number of KDS message bytes sent to zones so far.
func (s *Server) BytesSent() int64 { return s.bytesSent.Load() }

// Errors of the zone lifecycle.
var (
	ErrNotFound     = errors.New("not found")
	errDeleteOnline = errors.New("zone: unable to delete Zone, Zone CP is still connected, please shut it down first")
)
