package compiler

import (
	"fmt"
	"sort"
	"sync"

	"github.com/meshc/meshc/schema"
)

// Planner keeps a zone's inputs and the plans of its proxies, and recomputes
// only what a change touches. Every Set/Upsert/Delete returns the keys of the
// proxies whose plan may have changed (sorted); Plan(key) then returns the
// fresh plan (computed lazily, memoized). Identical parts (per-mesh policy
// indexes, endpoint sets, clusters, outbound services) are memoized by content
// and shared between plans.
//
// A Planner is safe for concurrent use; Plan may be called from many goroutines.
type Planner struct {
	mu   sync.Mutex
	zone string

	bundle    *Bundle
	meshes    map[string]*meshIndex // by mesh name
	dps       map[ProxyKey]*schema.Resource
	ingresses map[string]*schema.Resource // by name
	egress    *egressAddr                 // this zone's egress (egress.go); nil: none
	vips      map[string][]VIPListener
	services  map[string]map[string]*svcInfo   // mesh → service
	users     map[svcRef]map[ProxyKey]struct{} // proxies whose plan read a service
	deps      map[ProxyKey][]svcRef
	gen       uint64
	// vipProxies are the proxies whose plan has a VIP set; vipSvcs the
	// services with a VIP per mesh; vipGen bumps when a mesh's VIPs change.
	vipProxies map[ProxyKey]bool
	vipSvcs    map[string]map[string]bool
	vipGen     map[string]uint64

	plans map[ProxyKey]*ProxyPlan // nil entry: dirty
	memo  *memo
}

// NewPlanner returns an empty planner for zone.
func NewPlanner(zone string) *Planner {
	return &Planner{
		zone:       zone,
		meshes:     map[string]*meshIndex{},
		dps:        map[ProxyKey]*schema.Resource{},
		ingresses:  map[string]*schema.Resource{},
		plans:      map[ProxyKey]*ProxyPlan{},
		services:   map[string]map[string]*svcInfo{},
		users:      map[svcRef]map[ProxyKey]struct{}{},
		deps:       map[ProxyKey][]svcRef{},
		vipProxies: map[ProxyKey]bool{},
		vipSvcs:    map[string]map[string]bool{},
		vipGen:     map[string]uint64{},
		memo:       newMemo(),
	}
}

// Plan computes every proxy's plan from in at once (a fresh Planner).
func Plan(in PlanInput) (map[ProxyKey]*ProxyPlan, error) {
	p := NewPlanner(in.Zone)
	p.SetBundle(in.Bundle)
	p.SetZoneIngresses(in.ZoneIngresses)
	p.SetVIPs(in.VIPs)
	for _, dp := range in.Dataplanes {
		if _, err := p.UpsertDataplane(dp); err != nil {
			return nil, err
		}
	}
	out := map[ProxyKey]*ProxyPlan{}
	for _, k := range p.Proxies() {
		pl, err := p.Plan(k)
		if err != nil {
			return nil, err
		}
		out[k] = pl
	}
	return out, nil
}

// Proxies returns the keys of every registered dataplane, sorted.
func (p *Planner) Proxies() []ProxyKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks := make([]ProxyKey, 0, len(p.dps))
	for k := range p.dps {
		ks = append(ks, k)
	}
	sortKeys(ks)
	return ks
}

func sortKeys(ks []ProxyKey) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].Mesh != ks[j].Mesh {
			return ks[i].Mesh < ks[j].Mesh
		}
		return ks[i].Name < ks[j].Name
	})
}

// errUnknownProxy is returned by Plan for a key that is not registered.
func errUnknownProxy(k ProxyKey) error {
	return fmt.Errorf("plan %s: no such dataplane registered in this zone", k)
}

// SetBundle replaces the bundle. Returns the proxies whose plan may change:
// those matched (before or after) by a policy that was added, removed or
// changed, and every proxy of a mesh whose Mesh resource changed.
func (p *Planner) SetBundle(b *Bundle) []ProxyKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.setBundle(b)
}

// UpsertDataplane adds or replaces a Dataplane (type Dataplane, mesh set).
// Returns the proxies whose plan may change: the dataplane itself and every
// proxy that routes to a service it provides (before or after the change).
func (p *Planner) UpsertDataplane(r schema.Resource) ([]ProxyKey, error) {
	if r.Type != schema.TypeDataplane || r.DataplaneSpec() == nil {
		return nil, fmt.Errorf("upsert dataplane %s: not a Dataplane", r.Key())
	}
	if r.Mesh == "" || r.Name == "" {
		return nil, fmt.Errorf("upsert dataplane %q: mesh and name are required", r.Name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upsertDataplane(r), nil
}

// DeleteDataplane removes a Dataplane. Returns the affected proxies (the
// deleted one included, so the caller can drop its snapshot).
func (p *Planner) DeleteDataplane(k ProxyKey) []ProxyKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deleteDataplane(k)
}

// SetZoneIngresses replaces the set of other zones' ingresses. Returns the
// proxies that route to a service whose remote endpoints changed.
func (p *Planner) SetZoneIngresses(rs []schema.Resource) []ProxyKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.setZoneIngresses(rs)
}

// SetVIPs replaces the VIP listeners of every mesh (issue 7). Returns the
// proxies of meshes whose VIP listeners changed.
func (p *Planner) SetVIPs(v map[string][]VIPListener) []ProxyKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.setVIPs(v)
}

// Plan returns the current plan of proxy k (computed now if k was affected by
// a change since the last call).
func (p *Planner) Plan(k ProxyKey) (*ProxyPlan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.dps[k]; !ok {
		return nil, errUnknownProxy(k)
	}
	if pl := p.plans[k]; pl != nil {
		return pl, nil
	}
	pl := p.build(k)
	p.plans[k] = pl
	return pl, nil
}
