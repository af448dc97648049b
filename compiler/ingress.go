package compiler

import (
	"fmt"
	"sort"

	"github.com/meshc/meshc/schema"
)

// This file holds the plan of a zone's ingress proxy (DESIGN.md §3
// ZoneIngress, §5.6): what other zones may reach in this zone, by SNI. The
// ingress never terminates mTLS: it reads the SNI a client sidecar sends
// (`<svc>.<h8>.<mesh>.mesh`, the same one the client's cluster uses) and
// forwards the TCP stream to this zone's instances of that service or subset;
// the receiving sidecar checks the client's SPIFFE identity.

// IngressPlan is the configuration of one zone ingress proxy.
type IngressPlan struct {
	// Name is the ZoneIngress's name; NodeID its xDS node id.
	Name   string `json:"name"`
	NodeID string `json:"nodeId"`
	Zone   string `json:"zone"`
	// Address and Port are where the ingress listens.
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Routes are one per SNI, sorted by SNI.
	Routes []*IngressRoute `json:"routes,omitempty"`
	// External (egress only) are the mesh's ExternalServices the egress
	// serves, sorted by mesh then service (compiler/external.go).
	External []*EgressExternal `json:"external,omitempty"`
	// Hash identifies the whole plan.
	Hash string `json:"hash"`
	// Warnings name what the ingress does not expose and why.
	Warnings []string `json:"warnings,omitempty"`
}

// IngressRoute sends connections whose SNI is SNI to the local instances of
// Service (restricted to Tags when it is a subset). Its cluster is named by the SNI.
type IngressRoute struct {
	SNI       string            `json:"sni"`
	Mesh      string            `json:"mesh"`
	Service   string            `json:"service"`
	Tags      map[string]string `json:"tags,omitempty"`
	Endpoints *EndpointSet      `json:"endpoints"`
}

// Node id prefixes of zone proxies: `_zone-ingress.<name>` and
// `_zone-egress.<name>`. A mesh name is an RFC 1123 label and cannot start
// with `_`, so these never collide with a dataplane's `<mesh>.<name>`.
const (
	IngressNodePrefix = "_zone-ingress"
	EgressNodePrefix  = "_zone-egress"
)

// IngressNodeID is the xDS node id of the zone ingress named name.
func IngressNodeID(name string) string { return IngressNodePrefix + "." + name }

// EgressNodeID is the xDS node id of the zone egress named name.
func EgressNodeID(name string) string { return EgressNodePrefix + "." + name }

// IngressPlan computes the plan of ZoneIngress ing from the planner's local
// instances and bundle. For each mesh with mTLS (cross-zone traffic requires
// it), each local service gets a route for the whole service and one for
// every subset the mesh's routes and VIPs name that has a local instance.
func (p *Planner) IngressPlan(ing schema.Resource) (*IngressPlan, error) {
	zi := ing.ZoneIngressSpec()
	if ing.Type != schema.TypeZoneIngress || zi == nil {
		return nil, fmt.Errorf("ingress plan %s: not a ZoneIngress", ing.Key())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := &IngressPlan{Name: ing.Name, NodeID: IngressNodeID(ing.Name), Zone: p.zone,
		Address: zi.Networking.Address, Port: zi.Networking.Port}
	if pl.Address == "" {
		pl.Address = "0.0.0.0"
	}
	for _, mesh := range sortedKeys(p.services) {
		svcs := p.services[mesh]
		mi := p.meshes[mesh]
		local := 0
		for _, s := range svcs {
			local += len(s.local)
		}
		if local == 0 || mi == nil || mi.spec == nil {
			continue // no instance, or a mesh the bundle does not (yet) define
		}
		if !mi.mtls() {
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("mesh %q has no mTLS: its services are not exposed to other zones (cross-zone traffic requires mTLS; enable mtls on the Mesh)", mesh))
			continue
		}
		subsets := p.subsetsOf(mesh, mi)
		for _, svc := range sortedKeys(svcs) {
			s := svcs[svc]
			if len(s.local) == 0 {
				continue
			}
			for _, tags := range append([]map[string]string{nil}, subsets[svc]...) {
				es := localEndpoints(s, p.zone, tags)
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

// localEndpoints is the endpoint set of the local instances of s carrying subset.
func localEndpoints(s *svcInfo, zone string, subset map[string]string) *EndpointSet {
	local := &svcInfo{local: s.local}
	return local.endpoints(zone, subset, false, false, nil)
}

// subsetsOf lists, per service, the tag subsets (without kuma.io/service)
// that clients of mesh may address: MeshHTTPRoute/MeshTCPRoute backendRefs
// with tags, and VIP listeners of a subset (VirtualOutbound). Sorted, unique.
func (p *Planner) subsetsOf(mesh string, mi *meshIndex) map[string][]map[string]string {
	seen := map[string]map[string]bool{}
	out := map[string][]map[string]string{}
	add := func(svc string, tags map[string]string) {
		t := subsetTags(tags)
		if svc == "" || len(t) == 0 {
			return
		}
		c := canonTags(t)
		if seen[svc] == nil {
			seen[svc] = map[string]bool{}
		}
		if !seen[svc][c] {
			seen[svc][c] = true
			out[svc] = append(out[svc], t)
		}
	}
	if mi != nil {
		for _, kind := range []string{schema.TypeMeshHTTPRoute, schema.TypeMeshTCPRoute} {
			for _, pol := range mi.policies[kind] {
				for _, it := range pol.spec.To {
					for _, r := range it.Rules {
						for _, br := range r.Default.BackendRefs {
							name := br.Name
							if name == "" {
								name = it.TargetRef.Name
							}
							add(name, br.Tags)
						}
					}
				}
			}
		}
	}
	for _, v := range p.vips[mesh] {
		add(v.Service, v.Tags)
	}
	for svc := range out {
		sort.Slice(out[svc], func(i, j int) bool { return canonTags(out[svc][i]) < canonTags(out[svc][j]) })
	}
	return out
}

// CrossZoneWithoutMTLS lists, sorted, the meshes of the bundle without mTLS
// for which another zone's ingress advertises services: cross-zone traffic
// the zone does not route (it requires mTLS).
func (p *Planner) CrossZoneWithoutMTLS() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for mesh, svcs := range p.services {
		if mi := p.meshes[mesh]; mi == nil || mi.spec == nil || mi.mtls() {
			continue
		}
		for _, s := range svcs {
			if len(s.remote) > 0 {
				out = append(out, mesh)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
