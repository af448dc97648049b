// Package store is the zone's live inventory: the dataplanes, zone ingresses
// and zone egresses registered at this zone (never in Git), each with its
// connection status, and change notifications for the zone agent loop.
//
// It is in memory: proxies re-register when a zone restarts (`meshc dp run`
// does on start), as in Kuma's universal mode without a database.
package store

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/meshc/meshc/schema"
)

// Entry is one registered resource with its status.
type Entry struct {
	Resource schema.Resource `json:"resource"`
	// Generation increases on every change of this entry's spec.
	Generation int64     `json:"generation"`
	CreatedAt  time.Time `json:"createdAt"`
	ModifiedAt time.Time `json:"modifiedAt"`
	Status     Status    `json:"status"`
}

// Status is a proxy's xDS connection status, fed by the xDS server's stream callbacks.
type Status struct {
	Online         bool      `json:"online"`
	ConnectedAt    time.Time `json:"connectedAt,omitempty"`
	DisconnectedAt time.Time `json:"disconnectedAt,omitempty"`
	// Streams counts open xDS streams of this node (Envoy opens one ADS stream).
	Streams int `json:"-"`
}

// Registry holds the zone's dataplanes, ingresses and egresses. It is safe for
// concurrent use. Every change is reported to watchers (see Watch).
type Registry struct {
	zone string

	mu       sync.Mutex
	entries  map[schema.Key]*Entry
	status   map[schema.Key]Status // kept apart so a proxy may connect before it registers
	watchers map[*Watcher]struct{}
	now      func() time.Time
}

// New returns an empty registry of the zone named zone (it tags inbounds with it).
func New(zone string) *Registry {
	return &Registry{
		zone:     zone,
		entries:  map[schema.Key]*Entry{},
		status:   map[schema.Key]Status{},
		watchers: map[*Watcher]struct{}{},
		now:      time.Now,
	}
}

// Zone is the name of the zone this registry belongs to.
func (r *Registry) Zone() string { return r.zone }

// Put registers or replaces res (a Dataplane, ZoneIngress or ZoneEgress). A
// Dataplane's inbounds get `kuma.io/zone: <zone>`; a ZoneIngress/ZoneEgress
// gets its zone. changed is false when the stored spec was already identical.
func (r *Registry) Put(res schema.Resource) (changed bool, err error) {
	if err := r.normalize(&res); err != nil {
		return false, err
	}
	k := res.Key()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if old, ok := r.entries[k]; ok {
		if sameSpec(old.Resource, res) {
			return false, nil
		}
		old.Resource = res
		old.Generation++
		old.ModifiedAt = now
	} else {
		r.entries[k] = &Entry{Resource: res, Generation: 1, CreatedAt: now, ModifiedAt: now}
	}
	r.notifyLocked(k)
	return true, nil
}

// Delete removes the resource with key k; it reports whether it existed.
func (r *Registry) Delete(k schema.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[k]; !ok {
		return false
	}
	delete(r.entries, k)
	r.notifyLocked(k)
	return true
}

// Get returns a copy of the entry with key k.
func (r *Registry) Get(k schema.Key) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[k]
	if !ok {
		return Entry{}, false
	}
	out := *e
	out.Status = r.status[statusKey(k)]
	return out, true
}

// List returns the entries of type t (and of mesh, when mesh is non-empty),
// sorted by mesh and name.
func (r *Registry) List(t, mesh string) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Entry
	for k, e := range r.entries {
		if k.Type != t || (mesh != "" && k.Mesh != mesh) {
			continue
		}
		c := *e
		c.Status = r.status[statusKey(k)]
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource.Key().Less(out[j].Resource.Key()) })
	return out
}

// Resources returns the registered resources of type t, sorted (for compiler.Plan).
func (r *Registry) Resources(t string) []schema.Resource {
	es := r.List(t, "")
	out := make([]schema.Resource, len(es))
	for i := range es {
		out[i] = es[i].Resource
	}
	return out
}

// Connected records that a proxy identified by its xDS node id opened a
// stream. Node ids are `<mesh>.<name>` for dataplanes; other node ids (an
// ingress, an egress) are recorded under their own type by the caller via
// ConnectedKey.
func (r *Registry) Connected(nodeID string) { r.ConnectedKey(NodeKey(nodeID)) }

// Disconnected records that a proxy's stream closed.
func (r *Registry) Disconnected(nodeID string) { r.DisconnectedKey(NodeKey(nodeID)) }

// ConnectedKey marks the proxy with key k online.
func (r *Registry) ConnectedKey(k schema.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k = statusKey(k)
	s := r.status[k]
	s.Streams++
	if !s.Online {
		s.Online = true
		s.ConnectedAt = r.now()
	}
	r.status[k] = s
}

// DisconnectedKey marks the proxy with key k offline once its last stream closed.
func (r *Registry) DisconnectedKey(k schema.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k = statusKey(k)
	s := r.status[k]
	if s.Streams > 0 {
		s.Streams--
	}
	if s.Streams == 0 && s.Online {
		s.Online = false
		s.DisconnectedAt = r.now()
	}
	r.status[k] = s
}

// NodeKey turns an xDS node id `<mesh>.<name>` into a Dataplane key. Mesh
// names are RFC 1123 labels (no dots), so the first dot splits them.
// The zone proxies' node ids `_zone-ingress.<name>` and `_zone-egress.<name>`
// (compiler.IngressNodeID, EgressNodeID) become ZoneIngress/ZoneEgress keys.
func NodeKey(nodeID string) schema.Key {
	for i := 0; i < len(nodeID); i++ {
		if nodeID[i] == '.' {
			switch nodeID[:i] {
			case "_zone-ingress":
				return schema.Key{Type: schema.TypeZoneIngress, Name: nodeID[i+1:]}
			case "_zone-egress":
				return schema.Key{Type: schema.TypeZoneEgress, Name: nodeID[i+1:]}
			}
			return schema.Key{Type: schema.TypeDataplane, Mesh: nodeID[:i], Name: nodeID[i+1:]}
		}
	}
	return schema.Key{Type: schema.TypeDataplane, Name: nodeID}
}

// NodeID is the xDS node id of a dataplane: `<mesh>.<name>`.
func NodeID(mesh, name string) string { return mesh + "." + name }

// statusKey ignores nothing today; it exists so status and entries share keys.
func statusKey(k schema.Key) schema.Key { return k }

func (r *Registry) normalize(res *schema.Resource) error {
	switch res.Type {
	case schema.TypeDataplane:
		dp := res.DataplaneSpec()
		if dp == nil {
			return fmt.Errorf("store: Dataplane %q has no dataplane body", res.Name)
		}
		c := cloneDataplane(dp)
		for i := range c.Networking.Inbound {
			c.Networking.Inbound[i].Tags[schema.TagZone] = r.zone
		}
		res.Spec = c
	case schema.TypeZoneIngress:
		zi := res.ZoneIngressSpec()
		if zi == nil {
			return fmt.Errorf("store: ZoneIngress %q has no body", res.Name)
		}
		c := *zi
		c.Zone = r.zone
		c.AvailableServices = nil // computed by the zone from its dataplanes, never taken from the sender
		res.Spec = &c
	case schema.TypeZoneEgress:
		ze := res.ZoneEgressSpec()
		if ze == nil {
			return fmt.Errorf("store: ZoneEgress %q has no body", res.Name)
		}
		c := *ze
		c.Zone = r.zone
		res.Spec = &c
	default:
		return fmt.Errorf("store: %s is not registered at a zone (only Dataplane, ZoneIngress, ZoneEgress)", res.Type)
	}
	return nil
}

func cloneDataplane(dp *schema.DataplaneSpec) *schema.DataplaneSpec {
	c := *dp
	c.Networking.Inbound = make([]schema.Inbound, len(dp.Networking.Inbound))
	for i, in := range dp.Networking.Inbound {
		tags := make(map[string]string, len(in.Tags)+1)
		for k, v := range in.Tags {
			tags[k] = v
		}
		in.Tags = tags
		c.Networking.Inbound[i] = in
	}
	c.Networking.Outbound = append([]schema.Outbound(nil), dp.Networking.Outbound...)
	return &c
}

func sameSpec(a, b schema.Resource) bool {
	ja, err1 := a.MarshalJSON()
	jb, err2 := b.MarshalJSON()
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
