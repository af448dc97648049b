package zone

import (
	"slices"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// ZoneProxyPublisher is implemented by publishers that also serve zone
// ingress proxies (XDSPublisher does). A publisher without it serves sidecars only.
type ZoneProxyPublisher interface {
	UpdateIngress(plan *compiler.IngressPlan) error
	RemoveNode(nodeID string)
}

// UpdateIngress translates and publishes a zone ingress's plan.
func (p XDSPublisher) UpdateIngress(plan *compiler.IngressPlan) error {
	return p.Server.UpdateIngress(p.Ctx, plan)
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
		if zp.published[plan.NodeID] == plan.Hash {
			continue
		}
		if err := pub.UpdateIngress(plan); err != nil {
			a.log.Error("zone proxy config not updated", "type", r.Type, "name", r.Name, "err", err)
			continue
		}
		zp.published[plan.NodeID] = plan.Hash
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
