package compiler

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/meshc/meshc/schema"
)

// This file holds the zone egress (DESIGN.md §3 ZoneEgress): in a mesh with
// `routing.zoneEgress: true`, a proxy reaches other zones only through its
// zone's egress. The proxy's endpoint for a remote zone is the egress; the
// egress, like an ingress, never terminates mTLS: it reads the SNI and
// forwards the stream to the ingresses of the zones that run the service or
// subset, weighted by their instance counts.

// egressAddr is where this zone's egress listens. none marks a mesh that
// routes through an egress in a zone that has none (remote zones unreachable).
type egressAddr struct {
	address string
	port    int
	none    bool
}

func (e *egressAddr) String() string {
	switch {
	case e == nil:
		return ""
	case e.none:
		return "none"
	}
	return e.address + ":" + strconv.Itoa(e.port)
}

var noEgress = &egressAddr{none: true}

// egressFor returns how mesh reaches remote zones: nil directly (their
// ingresses), or through this zone's egress (noEgress when there is none).
func (p *Planner) egressFor(mesh string) *egressAddr {
	mi := p.meshes[mesh]
	if mi == nil || mi.spec == nil || !mi.spec.Routing.ZoneEgress {
		return nil
	}
	if p.egress == nil {
		return noEgress
	}
	return p.egress
}

// SetZoneEgresses replaces this zone's egresses (type ZoneEgress); the first
// by name is used. Returns the proxies whose remote endpoints change: those
// of meshes with routing.zoneEgress that route to a remote service.
func (p *Planner) SetZoneEgresses(rs []schema.Resource) []ProxyKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	var next *egressAddr
	sorted := append([]schema.Resource(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, r := range sorted {
		if ze := r.ZoneEgressSpec(); ze != nil && ze.Networking.Port > 0 {
			addr := ze.Networking.Address
			if addr == "" || addr == "0.0.0.0" || addr == "::" {
				addr = "127.0.0.1"
			}
			next = &egressAddr{address: addr, port: ze.Networking.Port}
			break
		}
	}
	if next.String() == p.egress.String() {
		return nil
	}
	p.egress = next
	a := affected{}
	for mesh, svcs := range p.services {
		if mi := p.meshes[mesh]; mi == nil || mi.spec == nil || !mi.spec.Routing.ZoneEgress {
			continue
		}
		for svc, s := range svcs {
			if len(s.remote) > 0 || s.external != nil {
				p.touchService(mesh, svc, a)
			}
		}
	}
	return p.dirty(a)
}

// EgressPlan computes the plan of ZoneEgress eg: for each mesh with
// routing.zoneEgress and mTLS, one SNI route per remote service (and per
// subset the mesh's routes and VIPs name) to the other zones' ingresses
// that have matching instances, weighted by instance count. The plan has the
// shape of an ingress plan (SNI → endpoints); Name and NodeID are the egress's.
func (p *Planner) EgressPlan(eg schema.Resource) (*IngressPlan, error) {
	ze := eg.ZoneEgressSpec()
	if eg.Type != schema.TypeZoneEgress || ze == nil {
		return nil, fmt.Errorf("egress plan %s: not a ZoneEgress", eg.Key())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := &IngressPlan{Name: eg.Name, NodeID: EgressNodeID(eg.Name), Zone: p.zone,
		Address: ze.Networking.Address, Port: ze.Networking.Port}
	if pl.Address == "" {
		pl.Address = "0.0.0.0"
	}
	for _, mesh := range sortedKeys(p.services) {
		mi := p.meshes[mesh]
		if mi == nil || mi.spec == nil || !mi.spec.Routing.ZoneEgress {
			continue
		}
		if !mi.mtls() {
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("mesh %q routes through the zone egress but has no mTLS: cross-zone traffic requires mTLS; enable mtls on the Mesh", mesh))
			continue
		}
		svcs := p.services[mesh]
		subsets := p.subsetsOf(mesh, mi)
		pl.External = append(pl.External, p.egressExternals(mesh, mi)...)
		for _, svc := range sortedKeys(svcs) {
			s := svcs[svc]
			if len(s.remote) == 0 || s.external != nil {
				continue
			}
			remote := &svcInfo{remote: s.remote}
			for _, tags := range append([]map[string]string{nil}, subsets[svc]...) {
				es := remote.endpoints(p.zone, tags, true, false, nil)
				if len(es.Endpoints) == 0 {
					continue
				}
				pl.Routes = append(pl.Routes, &IngressRoute{SNI: SNI(mesh, svc, tags), Mesh: mesh, Service: svc, Tags: tags, Endpoints: es})
			}
		}
	}
	sort.Slice(pl.Routes, func(i, j int) bool { return pl.Routes[i].SNI < pl.Routes[j].SNI })
	pl.Hash = hashJSON(pl)
	return pl, nil
}
