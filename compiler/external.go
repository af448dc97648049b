package compiler

import (
	"net"
	"sort"
	"strconv"

	"github.com/meshc/meshc/schema"
)

// This file holds ExternalServices (DESIGN.md §3): services outside the mesh,
// named by their kuma.io/service tag and reached at networking.address.
//
// A proxy's cluster for an external service points at:
//   - without routing.zoneEgress: the external address itself (a DNS name
//     makes the cluster resolve it), plain or with TLS originated by the
//     sidecar when networking.tls.enabled;
//   - with routing.zoneEgress (requires mTLS): only this zone's egress, over
//     mesh mTLS with the service's SNI. The egress terminates that mTLS
//     (presenting spiffe://<mesh>/<external service>), applies the
//     MeshTrafficPermissions that select the external service (as if it were
//     an inbound with the ExternalService's tags: targetRef Mesh or
//     MeshService <name>), and forwards to the address, originating TLS
//     when configured. Without an egress in the zone (or without mTLS) the
//     external service is unreachable: it is never reached directly.
//
// Permissions are enforced only on the egress path: a sidecar calling an
// external service directly has no one to ask.
//
// A name that is both an ExternalService and a mesh service is the
// ExternalService (its instances are not routed to from this mesh).

// ExternalTarget is where an external service lives and how it is reached.
type ExternalTarget struct {
	// Host is the address's host (a DNS name or an IP); Port its port.
	Host string `json:"host"`
	Port int    `json:"port"`
	// TLS: originate TLS to the service, with ServerName as SNI (Host when empty).
	TLS        bool   `json:"tls,omitempty"`
	ServerName string `json:"serverName,omitempty"`
	// ViaEgress: the proxy reaches the service through the zone egress (its
	// cluster is mesh mTLS to the egress; the egress originates TLS).
	ViaEgress bool `json:"viaEgress,omitempty"`
}

// SNIName is the server name to send when originating TLS.
func (t *ExternalTarget) SNIName() string {
	if t.ServerName != "" {
		return t.ServerName
	}
	return t.Host
}

// externalInfo is one ExternalService of a mesh as the planner keeps it.
type externalInfo struct {
	target   ExternalTarget
	protocol string
	tags     map[string]string
}

// EgressExternal is one external service the zone egress serves: connections
// with SNI (mesh mTLS from the mesh's sidecars) are terminated with the
// mesh's identity, checked against Permissions and forwarded to Endpoints
// (the external address), with TLS when Target.TLS.
type EgressExternal struct {
	SNI         string         `json:"sni"`
	Mesh        string         `json:"mesh"`
	Service     string         `json:"service"`
	Protocol    string         `json:"protocol"`
	Target      ExternalTarget `json:"target"`
	Permissions *Permissions   `json:"permissions"`
	Endpoints   *EndpointSet   `json:"endpoints"`
}

// ExternalIdentities returns, per mesh, the services the egress must present
// a certificate for (spiffe://<mesh>/<service>), sorted.
func (pl *IngressPlan) ExternalIdentities() map[string][]string {
	out := map[string][]string{}
	for _, e := range pl.External {
		out[e.Mesh] = append(out[e.Mesh], e.Service)
	}
	for _, svcs := range out {
		sort.Strings(svcs)
	}
	return out
}

// externalsOf reads the bundle's ExternalServices, by mesh and service name.
func externalsOf(b *Bundle) map[svcRef]*externalInfo {
	out := map[svcRef]*externalInfo{}
	if b == nil {
		return out
	}
	for _, r := range b.OfType(schema.TypeExternalService) {
		es := r.ExternalServiceSpec()
		if es == nil || es.Tags[schema.TagService] == "" {
			continue
		}
		host, ps, err := net.SplitHostPort(es.Networking.Address)
		port, perr := strconv.Atoi(ps)
		if err != nil || perr != nil || port <= 0 {
			continue // the compiler rejects such a bundle
		}
		ei := &externalInfo{target: ExternalTarget{Host: host, Port: port}, protocol: protocolOf(es.Tags), tags: es.Tags}
		if t := es.Networking.TLS; t != nil && t.Enabled {
			ei.target.TLS, ei.target.ServerName = true, t.ServerName
		}
		out[svcRef{r.Mesh, es.Tags[schema.TagService]}] = ei
	}
	return out
}

// setExternals installs the bundle's ExternalServices in the service index,
// touching the services whose external definition changed.
func (p *Planner) setExternals(b *Bundle, a affected) {
	want := externalsOf(b)
	for mesh, svcs := range p.services {
		for svc, s := range svcs {
			if s.external != nil && want[svcRef{mesh, svc}] == nil {
				s.external = nil
				p.touchService(mesh, svc, a)
				p.dropIfEmpty(mesh, svc)
			}
		}
	}
	for ref, ei := range want {
		s := p.ensureSvc(ref.mesh, ref.svc)
		if s.external != nil && hashJSON(s.external.target) == hashJSON(ei.target) && s.external.protocol == ei.protocol && canonTags(s.external.tags) == canonTags(ei.tags) {
			continue
		}
		s.external = ei
		p.touchService(ref.mesh, ref.svc, a)
	}
}

// externalEndpoints is the endpoint of an external service: its address, or
// with eg (a mesh routing through the egress) the egress — nothing when the
// zone has no egress or the mesh no mTLS.
func (s *svcInfo) externalEndpoints(zone string, mtls bool, eg *egressAddr) []Endpoint {
	t := s.external.target
	if eg == nil {
		return []Endpoint{{Address: t.Host, Port: t.Port, Weight: 1, Locality: zone}}
	}
	if eg.none || !mtls {
		return nil
	}
	return []Endpoint{{Address: eg.address, Port: eg.port, Weight: 1, Locality: zone}}
}

// externalCluster shapes cluster cp of an external service (before hashing).
func (ob *outboundBuild) externalCluster(cp *ClusterPlan, ei *externalInfo) {
	t := ei.target
	cp.Protocol = ei.protocol
	cp.LocalityAware = false
	eg := ob.p.egressFor(ob.mesh)
	if eg == nil {
		cp.MTLS, cp.SNI, cp.SPIFFE = false, "", ""
		cp.External = &t
		return
	}
	t.ViaEgress = true
	cp.External = &t
	cp.SNI = SNI(ob.mesh, cp.Service, nil) // the egress matches the whole service
	switch {
	case !ob.mi.mtls():
		ob.warn("external service %q is not reachable: mesh %q routes through the zone egress, which requires mTLS; enable mtls on the Mesh", cp.Service, ob.mesh)
	case eg.none:
		ob.warn("external service %q is not reachable: mesh %q routes through the zone egress and this zone has none; run `meshc dp run --type egress`", cp.Service, ob.mesh)
	}
}

// egressExternals lists the external services of mesh the egress serves.
func (p *Planner) egressExternals(mesh string, mi *meshIndex) []*EgressExternal {
	var out []*EgressExternal
	for _, svc := range sortedKeys(p.services[mesh]) {
		s := p.services[mesh][svc]
		if s.external == nil {
			continue
		}
		ee := &EgressExternal{
			SNI: SNI(mesh, svc, nil), Mesh: mesh, Service: svc, Protocol: s.external.protocol,
			Target: s.external.target, Permissions: permissions(mi, s.external.tags),
		}
		es := &EndpointSet{Endpoints: s.externalEndpoints(p.zone, false, nil)}
		es.Hostnames = hostnames(es.Endpoints)
		es.Hash = hashJSON(es.Endpoints)
		ee.Endpoints = es
		out = append(out, ee)
	}
	return out
}
