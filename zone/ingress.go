package zone

import (
	"slices"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/xds"
)

// ZoneProxyPublisher is implemented by publishers that also serve zone
// ingress proxies (XDSPublisher does). A publisher without it serves sidecars only.
type ZoneProxyPublisher interface {
	UpdateIngress(plan *compiler.IngressPlan) error
	// UpdateEgress publishes a zone egress's plan with its identity in each
	// mesh whose ExternalServices it serves (mesh → identity).
	UpdateEgress(plan *compiler.IngressPlan, ids map[string]*WorkloadIdentity) error
	RemoveNode(nodeID string)
}

// UpdateIngress translates and publishes a zone ingress's plan.
func (p XDSPublisher) UpdateIngress(plan *compiler.IngressPlan) error {
	return p.Server.UpdateIngress(p.Ctx, plan)
}

// UpdateEgress translates and publishes a zone egress's plan with its identities.
func (p XDSPublisher) UpdateEgress(plan *compiler.IngressPlan, ids map[string]*WorkloadIdentity) error {
	secs := map[string]*xds.Secrets{}
	for mesh, id := range ids {
		secs[mesh] = &xds.Secrets{CertPEM: id.CertChainPEM, KeyPEM: id.KeyPEM, CAPEM: id.CAPEM}
	}
	return p.Server.UpdateEgress(p.Ctx, plan, secs)
}

// RemoveNode drops the snapshots of a zone ingress or egress.
func (p XDSPublisher) RemoveNode(nodeID string) { p.Server.RemoveNode(nodeID) }

var _ ZoneProxyPublisher = XDSPublisher{}

// zoneProxies is the agent's record of what it published for this zone's
// ingresses, and of the cross-zone warnings it logged (owned by Run's goroutine).
type zoneProxies struct {
	published map[string]string // node id → plan hash published
	warned    map[string]string // node id → warnings logged (joined)
	noMTLS    []string          // meshes last warned about
}

// syncZoneProxies recomputes the plan of every ZoneIngress and ZoneEgress
// registered in this zone and publishes those that changed; those that left
// are removed.
// It also logs, once per change, the meshes whose cross-zone traffic is not
// routed because they have no mTLS.
func (a *Agent) syncZoneProxies() {
	zp := &a.zp
	if zp.published == nil {
		zp.published, zp.warned = map[string]string{}, map[string]string{}
	}
	if meshes := a.planner.CrossZoneWithoutMTLS(); !slices.Equal(meshes, zp.noMTLS) {
		zp.noMTLS = meshes
		for _, m := range meshes {
			a.log.Warn("another zone has services in a mesh without mTLS: cross-zone traffic is not routed (it requires mTLS); enable mtls on the Mesh", "mesh", m)
		}
	}
	pub, ok := a.pub.(ZoneProxyPublisher)
	if !ok {
		return
	}
	seen := map[string]bool{}
	proxies := append(a.reg.Resources(schema.TypeZoneIngress), a.reg.Resources(schema.TypeZoneEgress)...)
	for _, r := range proxies {
		var plan *compiler.IngressPlan
		var err error
		if r.Type == schema.TypeZoneEgress {
			plan, err = a.planner.EgressPlan(r)
		} else {
			plan, err = a.planner.IngressPlan(r)
		}
		if err != nil {
			a.log.Error("zone proxy not planned", "type", r.Type, "name", r.Name, "err", err)
			continue
		}
		seen[plan.NodeID] = true
		if w := joinWarnings(plan.Warnings); w != zp.warned[plan.NodeID] {
			zp.warned[plan.NodeID] = w
			for _, msg := range plan.Warnings {
				a.log.Warn(r.Type+": "+msg, "name", r.Name)
			}
		}
		version := plan.Hash
		var ids map[string]*WorkloadIdentity
		if r.Type == schema.TypeZoneEgress {
			ids = a.egressIdentities(plan)
			for _, mesh := range sortedMeshes(ids) {
				version += "|" + mesh + "@" + ids[mesh].NotAfter.String()
			}
		}
		if zp.published[plan.NodeID] == version {
			continue
		}
		if r.Type == schema.TypeZoneEgress {
			err = pub.UpdateEgress(plan, ids)
		} else {
			err = pub.UpdateIngress(plan)
		}
		if err != nil {
			a.log.Error("zone proxy config not updated", "type", r.Type, "name", r.Name, "err", err)
			continue
		}
		zp.published[plan.NodeID] = version
		a.log.Info("zone proxy config published", "type", r.Type, "name", r.Name, "routes", len(plan.Routes))
	}
	for id := range zp.published {
		if !seen[id] {
			pub.RemoveNode(id)
			delete(zp.published, id)
			delete(zp.warned, id)
		}
	}
}

// egressIdentities issues (or reuses) the egress's certificate in each mesh
// whose ExternalServices it serves: spiffe://<mesh>/<external service> for
// each of them, so sidecars accept the egress as that service. A mesh whose
// CA the zone lacks is left out (logged); the egress then does not serve it.
func (a *Agent) egressIdentities(plan *compiler.IngressPlan) map[string]*WorkloadIdentity {
	b := a.planned()
	now := a.now()
	ids := map[string]*WorkloadIdentity{}
	for mesh, svcs := range plan.ExternalIdentities() {
		id, err := a.certs.identity(compiler.ProxyKey{Mesh: mesh, Name: plan.NodeID}, svcs, nil, meshTTL(b, mesh), now)
		if err != nil {
			a.log.Error("zone egress: no identity for the mesh's external services", "egress", plan.Name, "mesh", mesh, "err", err)
			continue
		}
		ids[mesh] = id
	}
	return ids
}

func sortedMeshes(m map[string]*WorkloadIdentity) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func joinWarnings(ws []string) string {
	out := ""
	for _, w := range ws {
		out += w + "\n"
	}
	return out
}

// IngressPlan returns the current plan of this zone's ingress name (for the
// API and tests); ok is false when no such ingress is registered.
func (a *Agent) IngressPlan(name string) (*compiler.IngressPlan, bool, error) {
	e, ok := a.reg.Get(schema.Key{Type: schema.TypeZoneIngress, Name: name})
	if !ok {
		return nil, false, nil
	}
	pl, err := a.planner.IngressPlan(e.Resource)
	return pl, true, err
}
