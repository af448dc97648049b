package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server.
type Config struct {
	// Addr is the shared listener (UDP and TCP on the same port; port 0 picks
	// one). The client's source address decides its mesh. Empty: none.
	Addr string
	// MeshAddrs are per-mesh listeners (mesh → host:port) answering only that mesh's names.
	MeshAddrs map[string]string
	// Upstreams receive names outside the served ones (host:port); none → REFUSED.
	Upstreams []string
	// TTL of answers and of negative caching (default 30s).
	TTL time.Duration
	// ForwardTimeout bounds one forwarded query over all upstreams (default 2s).
	ForwardTimeout time.Duration
	Log            *slog.Logger
	// Registry receives the server's metrics (nil: not registered).
	Registry prometheus.Registerer
}

// DefaultTTL is the TTL of answers when Config.TTL is zero.
const DefaultTTL = 30 * time.Second

// Server is the zone's DNS server: UDP and TCP on each listener.
type Server struct {
	cfg       Config
	log       *slog.Logger
	src       atomic.Pointer[sourceBox]
	listeners []*listener
	ctx       context.Context // cancelled by Serve's shutdown; bounds forwarding
	cancel    context.CancelFunc

	queries   *prometheus.CounterVec
	malformed prometheus.Counter
	duration  *prometheus.HistogramVec
}

type sourceBox struct{ Source }

type listener struct {
	mesh string // "" for the shared one
	pc   net.PacketConn
	ln   net.Listener
	udp  *mdns.Server
	tcp  *mdns.Server
}

// NewServer binds every listener (so their addresses are known at once, and a
// busy port fails here) and logs the bound addresses. It answers from an empty
// source until SetSource.
func NewServer(cfg Config) (*Server, error) {
	s := newServer(cfg)
	if cfg.Addr != "" {
		if err := s.bind("", cfg.Addr); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	meshes := make([]string, 0, len(cfg.MeshAddrs))
	for m := range cfg.MeshAddrs {
		meshes = append(meshes, m)
	}
	sort.Strings(meshes)
	for _, m := range meshes {
		if err := s.bind(m, cfg.MeshAddrs[m]); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	if len(s.listeners) == 0 {
		return nil, errors.New("dns: no listen address (set --dns-addr)")
	}
	s.dropSelfUpstreams()
	return s, nil
}

// dropSelfUpstreams removes upstreams that are this server's own listeners
// (e.g. resolv.conf pointing at the zone's DNS): forwarding there would loop.
func (s *Server) dropSelfUpstreams() {
	isOwn := func(u netip.AddrPort) bool {
		for _, l := range s.listeners {
			ap, err := netip.ParseAddrPort(l.pc.LocalAddr().String())
			if err != nil || ap.Port() != u.Port() {
				continue
			}
			if ap.Addr().Unmap() == u.Addr().Unmap() || (ap.Addr().IsUnspecified() && u.Addr().IsLoopback()) {
				return true
			}
		}
		return u.Addr().IsUnspecified()
	}
	ups := s.cfg.Upstreams[:0:0]
	for _, u := range s.cfg.Upstreams {
		if ap, err := netip.ParseAddrPort(u); err == nil && isOwn(ap) {
			s.log.Warn("dns: upstream is this server itself; not forwarding there", "upstream", u)
			continue
		}
		ups = append(ups, u)
	}
	s.cfg.Upstreams = ups
}

// newServer applies defaults and sets up metrics, without listeners.
func newServer(cfg Config) *Server {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.SetSource(&Table{})
	s.initMetrics()
	return s
}

// bind opens UDP and TCP on the same port; with port 0 it retries until both
// get the same free port.
func (s *Server) bind(mesh, addr string) error {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("dns: listen udp %s: %w (choose another --dns-addr)", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			if _, port, _ := net.SplitHostPort(addr); port == "0" {
				continue
			}
			break
		}
		l := &listener{mesh: mesh, pc: pc, ln: ln}
		h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) { s.serve(w, r, l.mesh) })
		l.udp = &mdns.Server{PacketConn: pc, Handler: h, UDPSize: mdns.MaxMsgSize, MsgInvalidFunc: s.invalid}
		l.tcp = &mdns.Server{Listener: ln, Handler: h, MsgInvalidFunc: s.invalid,
			ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
		s.listeners = append(s.listeners, l)
		if mesh == "" {
			s.log.Info("dns listening", "addr", pc.LocalAddr().String(), "proto", "udp+tcp")
		} else {
			s.log.Info("dns listening", "addr", pc.LocalAddr().String(), "proto", "udp+tcp", "mesh", mesh)
		}
		return nil
	}
	return fmt.Errorf("dns: listen tcp %s: %w (choose another --dns-addr)", addr, lastErr)
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.pc.Close()
		l.ln.Close()
	}
}

// Addr is the shared listener's address ("" when there is none).
func (s *Server) Addr() string { return s.MeshAddr("") }

// MeshAddr is the address of mesh's own listener ("" when it has none).
func (s *Server) MeshAddr(mesh string) string {
	for _, l := range s.listeners {
		if l.mesh == mesh {
			return l.pc.LocalAddr().String()
		}
	}
	return ""
}

// SetSource swaps the records the server answers from; queries in flight finish with the old one.
func (s *Server) SetSource(src Source) { s.src.Store(&sourceBox{src}) }

func (s *Server) source() Source { return s.src.Load().Source }

// Serve answers queries until ctx is done, then shuts every listener down and
// waits for in-flight queries (at most 5 s).
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2*len(s.listeners))
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		for _, srv := range []*mdns.Server{l.udp, l.tcp} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.ActivateAndServe(); err != nil {
					errc <- err
				}
			}()
		}
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("dns: %w", err)
	}
	s.cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range s.listeners {
		for _, srv := range []*mdns.Server{l.udp, l.tcp} {
			_ = srv.ShutdownContext(sctx) // fails only if it never started (then err says why)
		}
	}
	s.closeListeners()
	wg.Wait()
	return err
}

func (s *Server) serve(w mdns.ResponseWriter, r *mdns.Msg, mesh string) {
	start := time.Now()
	var client netip.Addr
	udp := false
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		client, _ = netip.AddrFromSlice(a.IP)
		udp = true
	case *net.TCPAddr:
		client, _ = netip.AddrFromSlice(a.IP)
	}
	m, kind := s.answer(r, mesh, client.Unmap(), udp)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns: write answer", "client", client, "err", err)
	}
	rcode := mdns.RcodeToString[m.Rcode]
	if rcode == "" {
		rcode = fmt.Sprint(m.Rcode)
	}
	s.queries.WithLabelValues(rcode, kind).Inc()
	s.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if s.log.Enabled(context.Background(), slog.LevelDebug) && len(r.Question) > 0 {
		s.log.Debug("dns query", "client", client, "name", r.Question[0].Name,
			"type", mdns.TypeToString[r.Question[0].Qtype], "rcode", rcode, "kind", kind)
	}
}

func (s *Server) invalid(_ []byte, err error) {
	s.malformed.Inc()
	s.log.Debug("dns: malformed message", "err", err)
}

func (s *Server) initMetrics() {
	s.queries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshc_dns_queries_total",
		Help: "DNS queries answered, by response code and how (mesh, forward, refused, invalid).",
	}, []string{"rcode", "kind"})
	s.malformed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meshc_dns_malformed_total",
		Help: "DNS messages that could not be parsed (answered FORMERR when the header was readable, else dropped).",
	})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meshc_dns_query_duration_seconds",
		Help:    "Time to answer a DNS query.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .01, .05, .25, 1, 2.5},
	}, []string{"kind"})
	if s.cfg.Registry != nil {
		for _, c := range []prometheus.Collector{s.queries, s.malformed, s.duration} {
			if err := s.cfg.Registry.Register(c); err != nil {
				s.log.Warn("dns: register metric", "err", err)
			}
		}
	}
}
