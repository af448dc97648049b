package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshc/meshc/compiler"
)

// Translator turns plans into Envoy resources. It shares identical protos
// between proxies (keyed by content hash); it is safe for concurrent use.
// Generated protos are shared: never modify one.
type Translator struct {
	clusters  shared[clusterv3.Cluster]
	cla       shared[endpointv3.ClusterLoadAssignment]
	routes    shared[routev3.RouteConfiguration]
	listeners shared[listenerv3.Listener]
	secrets   shared[tlsv3.Secret]
	chains    shared[listenerv3.FilterChain]
}

// NewTranslator returns a translator with empty share caches.
func NewTranslator() *Translator { return &Translator{} }

// Resource type indexes of Resources.
const (
	typeListener = iota
	typeRoute
	typeCluster
	typeEndpoint
	typeSecret
	numTypes
)

var typeURLs = [numTypes]string{
	resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType,
}

// Resources is one proxy's Envoy configuration: per type, resources by name
// and a version that is a hash of their content (equal content, equal version).
type Resources struct {
	Node      string
	Proxyless bool
	Items     [numTypes]map[string]types.Resource
	Versions  [numTypes]string
	hashes    [numTypes]map[string]string // per resource content hash
	routeRefs map[string]bool             // route names the listeners use over RDS
}

func newResources(node string) *Resources {
	r := &Resources{Node: node, routeRefs: map[string]bool{}}
	for i := range r.Items {
		r.Items[i] = map[string]types.Resource{}
		r.hashes[i] = map[string]string{}
	}
	return r
}

func (r *Resources) add(t int, name, hash string, res types.Resource) {
	r.Items[t][name] = res
	r.hashes[t][name] = hash
}

// seal computes the per-type versions.
func (r *Resources) seal() {
	for t := range r.Items {
		names := make([]string, 0, len(r.Items[t]))
		for n := range r.Items[t] {
			names = append(names, n)
		}
		sort.Strings(names)
		h := sha256.New()
		for _, n := range names {
			fmt.Fprintf(h, "%s\x00%s\x00", n, r.hashes[t][n])
		}
		r.Versions[t] = hex.EncodeToString(h.Sum(nil)[:8])
	}
}

// Version is the combined version of every type.
func (r *Resources) Version() string {
	h := sha256.New()
	for _, v := range r.Versions {
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Names returns the sorted names of the resources of a type URL.
func (r *Resources) Names(typeURL string) []string {
	for t, u := range typeURLs {
		if u == typeURL {
			names := make([]string, 0, len(r.Items[t]))
			for n := range r.Items[t] {
				names = append(names, n)
			}
			sort.Strings(names)
			return names
		}
	}
	return nil
}

// Snapshot builds a go-control-plane snapshot (per-type versions) and checks
// its consistency: the routes are exactly those the listeners name over RDS and
// the endpoints exactly those of the EDS clusters — what Consistent() checks,
// from references recorded during translation instead of unmarshalling every
// (shared) listener of every proxy again (tests assert Consistent() itself).
// Proxyless snapshots, whose api_listeners Consistent() cannot follow, are
// checked by following the api_listeners.
func (r *Resources) Snapshot() (*cachev3.Snapshot, error) {
	s := &cachev3.Snapshot{}
	for t := range r.Items {
		items := make([]types.Resource, 0, len(r.Items[t]))
		for _, n := range r.Names(typeURLs[t]) {
			items = append(items, r.Items[t][n])
		}
		s.Resources[cachev3.GetResponseType(typeURLs[t])] = cachev3.NewResources(r.Versions[t], items)
	}
	if r.Proxyless {
		if err := r.checkProxylessRefs(); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", r.Node, err)
		}
		return s, nil
	}
	if err := r.checkRefs(); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r.Node, err)
	}
	return s, nil
}

func (r *Resources) checkRefs() error {
	if len(r.routeRefs) != len(r.Items[typeRoute]) {
		return fmt.Errorf("%d routes for %d route references", len(r.Items[typeRoute]), len(r.routeRefs))
	}
	for n := range r.routeRefs {
		if _, ok := r.Items[typeRoute][n]; !ok {
			return fmt.Errorf("route %q is referenced but missing", n)
		}
	}
	eds := 0
	for n, c := range r.Items[typeCluster] {
		if c.(*clusterv3.Cluster).GetType() != clusterv3.Cluster_EDS {
			continue
		}
		eds++
		if _, ok := r.Items[typeEndpoint][n]; !ok {
			return fmt.Errorf("EDS cluster %q has no endpoints", n)
		}
	}
	if eds != len(r.Items[typeEndpoint]) {
		return fmt.Errorf("%d endpoint assignments for %d EDS clusters", len(r.Items[typeEndpoint]), eds)
	}
	return nil
}

// Translate builds proxy p's resources. sec may be nil when the mesh has no mTLS.
func (t *Translator) Translate(p *compiler.ProxyPlan, sec *Secrets, opts Options) (*Resources, error) {
	if p.MTLS && !opts.Proxyless && (sec == nil || len(sec.CertPEM) == 0 || len(sec.KeyPEM) == 0 || len(sec.CAPEM) == 0) {
		return nil, fmt.Errorf("translate %s: mesh %q has mTLS but no certificate, key and CA were supplied", p.Key, p.Key.Mesh)
	}
	r := newResources(p.Key.String())
	r.Proxyless = opts.Proxyless
	var err error
	if opts.Proxyless {
		err = t.proxyless(p, r)
	} else {
		err = t.sidecar(p, r)
	}
	if err != nil {
		return nil, fmt.Errorf("translate %s: %w", p.Key, err)
	}
	if p.MTLS && !opts.Proxyless {
		if err := t.addSecrets(r, sec); err != nil {
			return nil, fmt.Errorf("translate %s: %w", p.Key, err)
		}
	}
	r.seal()
	return r, nil
}

// validate runs the proto's generated validation.
func validate(name string, v interface{ Validate() error }) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
