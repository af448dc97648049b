package xds

import (
	"context"

	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretgrpc "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/meshc/meshc/compiler"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	Log *slog.Logger
	// Registry receives the server's metrics (nil: not registered).
	Registry prometheus.Registerer
	// OnConnect is called (from a stream goroutine; do not block) when a
	// node's first xDS stream opens and when its last one closes.
	OnConnect func(node string, connected bool)
	// BreakDelay bounds how long removed clusters are kept (make-before-break)
	// when the proxy has not yet ACKed the listeners and routes that stopped
	// using them. Default 5s.
	BreakDelay time.Duration
}

// Server serves xDS (ADS, state-of-the-world and delta) from a snapshot cache
// holding one snapshot per node `<mesh>.<name>`. Envoy sidecars are served
// from an ADS-ordered cache, every resource of a type at a time (see
// answerWholeType); proxyless gRPC nodes (node metadata `proxyless: true`)
// from a cache that answers exactly the names requested.
type Server struct {
	log        *slog.Logger
	opts       ServerOptions
	tr         *Translator
	sidecars   cachev3.SnapshotCache
	proxyless  cachev3.SnapshotCache
	cache      *cachev3.MuxCache
	caches     [numFlavours]cachev3.SnapshotCache
	callbacks  serverv3.CallbackFuncs
	metrics    *metrics
	ctx        context.Context
	cancel     context.CancelFunc
	mu         sync.Mutex
	nodes      map[string]*nodeState
	streams    map[int64]*streamState
	nacks      []NACK // most recent last, bounded
	closed     bool
	publishing sync.Mutex // serializes cache writes per server
}

type nodeState struct {
	id        string
	plan      *compiler.ProxyPlan
	sec       *Secrets
	proxyless bool
	fl        [numFlavours]flavourState
	streams   int
	status    NodeStatus
	// rejected: type URL → version the proxy NACKed and has not replaced by an ACK.
	rejected map[string]string
	retries  int
	// publishes counts snapshots published; a rejected type is re-offered
	// at most once per publish that followed the rejection.
	publishes, rejectedAt, retriedAt int
}

// Flavours of config: Envoy sidecars and proxyless gRPC clients, each with its cache.
const (
	flSidecar = iota
	flProxyless
	numFlavours
)

// flavourState is what is published in one flavour's cache for a node.
type flavourState struct {
	served  *Resources  // in the cache now
	target  *Resources  // final config while removed clusters are kept; nil otherwise
	breakAt *time.Timer // drops the kept clusters if the proxy never ACKs
}

func (n *nodeState) activeFlavour() int {
	if n.proxyless {
		return flProxyless
	}
	return flSidecar
}

func (n *nodeState) stopTimers() {
	for i := range n.fl {
		if n.fl[i].breakAt != nil {
			n.fl[i].breakAt.Stop()
			n.fl[i].breakAt = nil
		}
	}
}

type streamState struct {
	node   string
	delta  bool
	nonces map[string]string // response nonce → version sent
	names  map[string]string // type URL → resource names last requested (SotW)
}

const maxNACKs = 256

// NewServer returns a server with its own translator.
func NewServer(opts ServerOptions) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.BreakDelay <= 0 {
		opts.BreakDelay = 5 * time.Second
	}
	s := &Server{
		log:     opts.Log.With("component", "xds"),
		opts:    opts,
		tr:      NewTranslator(),
		nodes:   map[string]*nodeState{},
		streams: map[int64]*streamState{},
		metrics: newMetrics(opts.Registry),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	logger := cacheLogger{s.log}
	s.sidecars = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, logger)
	s.proxyless = cachev3.NewSnapshotCache(false, cachev3.IDHash{}, logger)
	s.caches = [numFlavours]cachev3.SnapshotCache{flSidecar: s.sidecars, flProxyless: s.proxyless}
	s.cache = &cachev3.MuxCache{
		Classify:      func(r *cachev3.Request) string { return flavourOf(r.GetNode()) },
		ClassifyDelta: func(r *cachev3.DeltaRequest) string { return flavourOf(r.GetNode()) },
		Caches:        map[string]cachev3.Cache{"sidecar": s.sidecars, "proxyless": s.proxyless},
	}
	s.callbacks = serverv3.CallbackFuncs{
		StreamOpenFunc:          func(context.Context, int64, string) error { return nil },
		StreamClosedFunc:        s.onStreamClosed,
		DeltaStreamOpenFunc:     func(context.Context, int64, string) error { return nil },
		DeltaStreamClosedFunc:   s.onStreamClosed,
		StreamRequestFunc:       s.onStreamRequest,
		StreamResponseFunc:      s.onStreamResponse,
		StreamDeltaRequestFunc:  s.onDeltaRequest,
		StreamDeltaResponseFunc: s.onDeltaResponse,
	}
	return s
}

// Translator returns the server's translator (shared protos).
func (s *Server) Translator() *Translator { return s.tr }

// Register adds the aggregated discovery service (SotW and delta) and SDS to g.
// The server's streams end when g stops or Close is called.
func (s *Server) Register(g *grpc.Server) {
	srv := serverv3.NewServer(s.ctx, s.cache, s.callbacks)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, srv)
	secretgrpc.RegisterSecretDiscoveryServiceServer(g, srv)
}

// Close stops pending make-before-break timers and ends open streams.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, n := range s.nodes {
		n.stopTimers()
	}
	s.mu.Unlock()
	s.cancel()
}

// proxylessMeta reports whether a node says it is a proxyless gRPC client.
func proxylessMeta(n *corev3.Node) bool {
	f := n.GetMetadata().GetFields()["proxyless"]
	return f.GetBoolValue() || f.GetStringValue() == "true"
}

func flavourOf(n *corev3.Node) string {
	if proxylessMeta(n) {
		return "proxyless"
	}
	return "sidecar"
}

func (s *Server) node(id string) *nodeState {
	n := s.nodes[id]
	if n == nil {
		n = &nodeState{id: id, status: NodeStatus{Node: id, Acked: map[string]string{}}}
		s.nodes[id] = n
	}
	return n
}

// Update translates plan with sec and publishes it for node plan.Key.String().
// Clusters that disappear are removed only after the proxy has ACKed the
// listeners and routes that no longer use them (or after BreakDelay).
func (s *Server) Update(ctx context.Context, plan *compiler.ProxyPlan, sec *Secrets) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	res, err := s.tr.Translate(plan, sec, Options{})
	if err != nil {
		s.metrics.errors.Inc()
		return err
	}
	id := plan.Key.String()
	s.mu.Lock()
	n := s.node(id)
	n.plan, n.sec = plan, sec
	proxyless := n.proxyless
	s.mu.Unlock()
	if proxyless {
		if err := s.publishProxyless(id, plan, sec); err != nil {
			return err
		}
	}
	err = s.publish(id, res, flSidecar)
	s.metrics.translate.Observe(time.Since(start).Seconds())
	return err
}

// publish puts res in a flavour's cache, keeping removed clusters while the
// proxy may still route to them (make-before-break).
func (s *Server) publish(id string, res *Resources, f int) error {
	s.publishing.Lock()
	defer s.publishing.Unlock()
	s.mu.Lock()
	n := s.node(id)
	fs := &n.fl[f]
	if fs.breakAt != nil {
		fs.breakAt.Stop()
		fs.breakAt = nil
	}
	old := fs.served
	set := res
	fs.target = nil
	if old != nil && n.streams > 0 && f == n.activeFlavour() {
		if kept := keepRemoved(old, res); kept != nil {
			set, fs.target = kept, res
			fs.breakAt = time.AfterFunc(s.opts.BreakDelay, func() { s.finalize(id, kept, f) })
		}
	}
	fs.served = set
	if f == n.activeFlavour() {
		n.publishes++
		n.status.Version = set.Version()
	}
	s.mu.Unlock()
	return s.setSnapshot(s.caches[f], id, set)
}

func (s *Server) setSnapshot(c cachev3.SnapshotCache, id string, r *Resources) error {
	snap, err := r.Snapshot()
	if err != nil {
		s.metrics.errors.Inc()
		return err
	}
	if err := c.SetSnapshot(s.ctx, id, snap); err != nil {
		return fmt.Errorf("publish %s: %w", id, err)
	}
	s.metrics.snapshots.Inc()
	return nil
}

// finalize drops the kept clusters once `interim` is still what is served.
func (s *Server) finalize(id string, interim *Resources, f int) {
	s.publishing.Lock()
	defer s.publishing.Unlock()
	s.mu.Lock()
	n := s.nodes[id]
	if n == nil || n.fl[f].served != interim || n.fl[f].target == nil || s.closed {
		s.mu.Unlock()
		return
	}
	fs := &n.fl[f]
	final := fs.target
	fs.served, fs.target = final, nil
	if fs.breakAt != nil {
		fs.breakAt.Stop()
		fs.breakAt = nil
	}
	if f == n.activeFlavour() {
		n.status.Version = final.Version()
	}
	s.mu.Unlock()
	if err := s.setSnapshot(s.caches[f], id, final); err != nil {
		s.log.Error("publish final snapshot", "node", id, "err", err)
	}
}

// keepRemoved returns next plus the clusters (and their endpoints) of old
// that next drops, or nil when next drops none.
func keepRemoved(old, next *Resources) *Resources {
	var removed []string
	for name := range old.items(typeCluster) {
		if _, ok := next.get(typeCluster, name); !ok {
			removed = append(removed, name)
		}
	}
	if len(removed) == 0 {
		return nil
	}
	var eps []string
	for _, n := range removed {
		if _, ok := old.get(typeEndpoint, n); ok {
			eps = append(eps, n)
		}
	}
	return next.withExtra(old, map[int][]string{typeCluster: removed, typeEndpoint: eps})
}

func (s *Server) publishProxyless(id string, plan *compiler.ProxyPlan, sec *Secrets) error {
	res, err := s.tr.Translate(plan, sec, Options{Proxyless: true})
	if err != nil {
		s.metrics.errors.Inc()
		return err
	}
	return s.publish(id, res, flProxyless)
}

// Remove forgets a node (its dataplane left): its snapshots are cleared.
func (s *Server) Remove(k compiler.ProxyKey) {
	id := k.String()
	s.mu.Lock()
	if n := s.nodes[id]; n != nil {
		n.stopTimers()
	}
	delete(s.nodes, id)
	s.mu.Unlock()
	s.sidecars.ClearSnapshot(id)
	s.proxyless.ClearSnapshot(id)
}

// Status returns what the server knows about a node.
func (s *Server) Status(id string) (NodeStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	if n == nil {
		return NodeStatus{}, false
	}
	st := n.status
	st.Connected = n.streams > 0
	st.Proxyless = n.proxyless
	st.Acked = map[string]string{}
	for k, v := range n.status.Acked {
		st.Acked[k] = v
	}
	st.Served = map[string]string{}
	if served := n.fl[n.activeFlavour()].served; served != nil {
		for t, u := range typeURLs {
			if served.count(t) > 0 {
				st.Served[u] = served.Versions[t]
			}
		}
	}
	return st, true
}

// NACKs returns recent rejections, oldest first.
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]NACK(nil), s.nacks...)
}

// Resources returns what the server publishes for a node (sidecar flavour, or
// proxyless for proxyless nodes), for `meshc inspect`.
func (s *Server) Resources(id string) (*Resources, error) {
	s.mu.Lock()
	n := s.nodes[id]
	s.mu.Unlock()
	if n == nil || (n.plan == nil && n.fl[flSidecar].served == nil) {
		return nil, fmt.Errorf("no configuration for node %q: is the dataplane registered in this zone?", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := n.fl[n.activeFlavour()].served; r != nil {
		return r, nil
	}
	return n.fl[flSidecar].served, nil
}

// Nodes returns the ids of every node the server has config or streams for.
func (s *Server) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.nodes))
	for id := range s.nodes {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// retryRejected re-offers the types a proxy rejected, once another type has
// made progress (a new version ACKed): a listener rejected because of a bad
// secret is accepted once the fixed secret is in. The re-offer carries a
// distinct version; it is never sent in a loop, only after progress.
func (s *Server) retryRejected(id string) {
	s.publishing.Lock()
	defer s.publishing.Unlock()
	s.mu.Lock()
	n := s.nodes[id]
	f := flSidecar
	if n != nil {
		f = n.activeFlavour()
	}
	if n == nil || n.fl[f].served == nil || len(n.rejected) == 0 || s.closed || n.publishes <= n.rejectedAt || n.retriedAt == n.publishes {
		s.mu.Unlock()
		return
	}
	n.retriedAt = n.publishes
	fs := &n.fl[f]
	cur := fs.served
	next := *cur
	n.retries++
	bumped := false
	for t, u := range typeURLs {
		if v, ok := n.rejected[u]; ok && v == cur.Versions[t] {
			next.Versions[t] = cur.Versions[t] + "~retry" + itoa(n.retries)
			next.salt[t] = "~retry" + itoa(n.retries)
			bumped = true
		}
	}
	if !bumped {
		s.mu.Unlock()
		return
	}
	fs.served = &next
	if fs.target != nil && fs.breakAt != nil {
		// The interim changed identity: let the timer finalize it.
		fs.breakAt.Stop()
		final := &next
		fs.breakAt = time.AfterFunc(s.opts.BreakDelay, func() { s.finalize(id, final, f) })
	}
	s.mu.Unlock()
	if err := s.setSnapshot(s.caches[f], id, &next); err != nil {
		s.log.Error("re-offer rejected config", "node", id, "err", err)
	}
}
