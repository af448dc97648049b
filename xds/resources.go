package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// layer is a set of resources of one type with their content hashes and a
// version over them. Once sealed it is immutable and may be shared by many
// proxies (a mesh's VIP outbounds are one layer for every proxy with the same
// policies).
type layer struct {
	items   map[string]types.Resource
	hashes  map[string]string
	ttl     map[string]types.ResourceWithTTL
	version string
	eds     int // EDS clusters among items (cluster layers)
}

func newLayer() *layer {
	return &layer{items: map[string]types.Resource{}, hashes: map[string]string{}}
}

func (l *layer) seal() {
	names := make([]string, 0, len(l.items))
	for n := range l.items {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	l.ttl = make(map[string]types.ResourceWithTTL, len(l.items))
	l.eds = 0
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, l.hashes[n])
		l.ttl[n] = types.ResourceWithTTL{Resource: l.items[n]}
		if c, ok := l.items[n].(*clusterv3.Cluster); ok && c.GetType() == clusterv3.Cluster_EDS {
			l.eds++
		}
	}
	l.version = hex.EncodeToString(h.Sum(nil)[:8])
}

// Resources is one proxy's Envoy configuration: per type, a shared base
// layer (may be nil) under the proxy's own layer, and a version per type.
// Equal content in equal layers gives equal versions.
type Resources struct {
	Node      string
	Proxyless bool
	Versions  [numTypes]string
	base      [numTypes]*layer
	own       [numTypes]*layer
	baseRefs  map[string]bool // route names the base layer's listeners use (shared)
	vip       *vipSetLayers   // keeps the shared VIP translation alive while in use
	// salt is appended to every resource version of a type re-offered after a
	// rejection, so that delta xDS (which tracks per-resource versions) sends it again.
	salt      [numTypes]string
	routeRefs map[string]bool // route names the proxy's own listeners use over RDS
}

func newResources(node string) *Resources {
	r := &Resources{Node: node, routeRefs: map[string]bool{}}
	for i := range r.own {
		r.own[i] = newLayer()
	}
	return r
}

// add puts a resource in the proxy's own layer, unless the base layer already
// has it with the same content.
func (r *Resources) add(t int, name, hash string, res types.Resource) {
	if b := r.base[t]; b != nil && b.hashes[name] == hash && hash != "" {
		return
	}
	r.own[t].items[name] = res
	r.own[t].hashes[name] = hash
}

// seal computes the per-type versions.
func (r *Resources) seal() {
	for t := range r.own {
		r.own[t].seal()
		switch b := r.base[t]; {
		case b == nil:
			r.Versions[t] = r.own[t].version
		case len(r.own[t].items) == 0:
			r.Versions[t] = b.version
		default:
			r.Versions[t] = hashStrings(b.version, r.own[t].version)
		}
	}
}

func hashStrings(ss ...string) string {
	h := sha256.New()
	for _, s := range ss {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func typeIndex(typeURL string) int {
	for t, u := range typeURLs {
		if u == typeURL {
			return t
		}
	}
	return -1
}

// TypeURLs are the resource types a proxy gets, in publishing order.
func TypeURLs() []string { return append([]string(nil), typeURLs[:]...) }

func (r *Resources) get(t int, name string) (types.Resource, bool) {
	if v, ok := r.own[t].items[name]; ok {
		return v, true
	}
	if b := r.base[t]; b != nil {
		v, ok := b.items[name]
		return v, ok
	}
	return nil, false
}

func (r *Resources) hashOf(t int, name string) string {
	if h, ok := r.own[t].hashes[name]; ok {
		return h
	}
	if b := r.base[t]; b != nil {
		return b.hashes[name]
	}
	return ""
}

// Get returns the resource of a type URL by name.
func (r *Resources) Get(typeURL, name string) (types.Resource, bool) {
	t := typeIndex(typeURL)
	if t < 0 {
		return nil, false
	}
	return r.get(t, name)
}

// count is the number of resources of type t.
func (r *Resources) count(t int) int {
	n := len(r.own[t].items)
	if b := r.base[t]; b != nil {
		n += len(b.items)
		for name := range r.own[t].items {
			if _, dup := b.items[name]; dup {
				n--
			}
		}
	}
	return n
}

// items returns every resource of type t (the shared map itself when one layer
// holds them all: never modify it).
func (r *Resources) items(t int) map[string]types.Resource {
	b, o := r.base[t], r.own[t]
	if b == nil {
		return o.items
	}
	if len(o.items) == 0 {
		return b.items
	}
	out := make(map[string]types.Resource, len(b.items)+len(o.items))
	for k, v := range b.items {
		out[k] = v
	}
	for k, v := range o.items {
		out[k] = v
	}
	return out
}

func (r *Resources) itemsTTL(t int) map[string]types.ResourceWithTTL {
	b, o := r.base[t], r.own[t]
	if b == nil {
		return o.ttl
	}
	if len(o.items) == 0 {
		return b.ttl
	}
	out := make(map[string]types.ResourceWithTTL, len(b.ttl)+len(o.ttl))
	for k, v := range b.ttl {
		out[k] = v
	}
	for k, v := range o.ttl {
		out[k] = v
	}
	return out
}

// ByType returns every resource of a type URL by name (read-only).
func (r *Resources) ByType(typeURL string) map[string]types.Resource {
	t := typeIndex(typeURL)
	if t < 0 {
		return nil
	}
	return r.items(t)
}

// Names returns the sorted names of the resources of a type URL.
func (r *Resources) Names(typeURL string) []string {
	m := r.ByType(typeURL)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Version is the combined version of every type.
func (r *Resources) Version() string { return hashStrings(r.Versions[:]...) }

// withExtra returns a copy of r whose own layers also hold extra resources
// (type → name → resource, hashes from src). The base layers stay shared.
func (r *Resources) withExtra(src *Resources, extra map[int][]string) *Resources {
	out := *r
	for t, names := range extra {
		l := newLayer()
		for k, v := range r.own[t].items {
			l.items[k], l.hashes[k] = v, r.own[t].hashes[k]
		}
		for _, n := range names {
			if v, ok := src.get(t, n); ok {
				l.items[n], l.hashes[n] = v, src.hashOf(t, n)
			}
		}
		out.own[t] = l
	}
	out.seal()
	return &out
}

// Snapshot checks the resources' consistency — the routes are exactly those
// the listeners name over RDS and the endpoints exactly those of the EDS
// clusters, what Consistent() checks, from references recorded during
// translation rather than unmarshalling every shared listener of every proxy
// again (tests assert Consistent() on Materialize()). Proxyless snapshots,
// whose api_listeners Consistent() cannot follow, are checked by following
// them. The snapshot shares the layers; maps are merged only when the cache
// asks for a type.
func (r *Resources) Snapshot() (cachev3.ResourceSnapshot, error) {
	var err error
	if r.Proxyless {
		err = r.checkProxylessRefs()
	} else {
		err = r.checkRefs()
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r.Node, err)
	}
	return &snapshot{r: r}, nil
}

// Materialize returns a plain go-control-plane snapshot of the same content.
func (r *Resources) Materialize() (*cachev3.Snapshot, error) {
	s := &cachev3.Snapshot{}
	for t := range typeURLs {
		items := make([]types.Resource, 0, r.count(t))
		for _, n := range r.Names(typeURLs[t]) {
			v, _ := r.get(t, n)
			items = append(items, v)
		}
		s.Resources[cachev3.GetResponseType(typeURLs[t])] = cachev3.NewResources(r.Versions[t], items)
	}
	return s, nil
}

func (r *Resources) checkRefs() error {
	refs := len(r.baseRefs)
	for n := range r.routeRefs {
		if _, ok := r.get(typeRoute, n); !ok {
			return fmt.Errorf("route %q is referenced but missing", n)
		}
		if !r.baseRefs[n] {
			refs++
		}
	}
	if routes := r.count(typeRoute); routes != refs {
		return fmt.Errorf("%d routes for %d route references", routes, refs)
	}
	eds := 0
	if b := r.base[typeCluster]; b != nil {
		eds = b.eds
	}
	for n, c := range r.own[typeCluster].items {
		if c.(*clusterv3.Cluster).GetType() != clusterv3.Cluster_EDS {
			continue
		}
		if b := r.base[typeCluster]; b == nil || b.items[n] == nil {
			eds++
		}
		if _, ok := r.get(typeEndpoint, n); !ok {
			return fmt.Errorf("EDS cluster %q has no endpoints", n)
		}
	}
	if n := r.count(typeEndpoint); n != eds {
		return fmt.Errorf("%d endpoint assignments for %d EDS clusters", n, eds)
	}
	return nil
}

// snapshot serves Resources to go-control-plane's cache without copying the
// shared layers until a type is asked for.
type snapshot struct {
	r          *Resources
	versionMap map[string]map[string]string
}

var _ cachev3.ResourceSnapshot = (*snapshot)(nil)

func (s *snapshot) GetVersion(typeURL string) string {
	if t := typeIndex(typeURL); t >= 0 {
		return s.r.Versions[t]
	}
	return ""
}

func (s *snapshot) GetResourcesAndTTL(typeURL string) map[string]types.ResourceWithTTL {
	if t := typeIndex(typeURL); t >= 0 {
		return s.r.itemsTTL(t)
	}
	return nil
}

func (s *snapshot) GetResources(typeURL string) map[string]types.Resource {
	if t := typeIndex(typeURL); t >= 0 {
		return s.r.items(t)
	}
	return nil
}

// ConstructVersionMap uses the content hashes computed at translation (the
// default snapshot marshals every resource again).
func (s *snapshot) ConstructVersionMap() error {
	if s.versionMap != nil {
		return nil
	}
	vm := map[string]map[string]string{}
	for t, u := range typeURLs {
		m := map[string]string{}
		if b := s.r.base[t]; b != nil {
			for k, v := range b.hashes {
				m[k] = v
			}
		}
		for k, v := range s.r.own[t].hashes {
			m[k] = v
		}
		if salt := s.r.salt[t]; salt != "" {
			for k, v := range m {
				m[k] = v + salt
			}
		}
		vm[u] = m
	}
	s.versionMap = vm
	return nil
}

func (s *snapshot) GetVersionMap(typeURL string) map[string]string { return s.versionMap[typeURL] }
