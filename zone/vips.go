package zone

import (
	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// Discovery is the zone's service discovery (package dns): after each change
// it gets the zone's whole view, allocates VIPs, updates the `.mesh` DNS
// records, and returns each mesh's VIP listeners for the proxies' plans.
type Discovery interface {
	// Update returns each mesh's VIP listeners; changed is false when they are
	// the same as the previous call's.
	Update(b *compiler.Bundle, dataplanes, ingresses []schema.Resource) (listeners map[string][]compiler.VIPListener, changed bool)
}

// updateVIPs refreshes VIPs and DNS from the applied bundle, the registry and
// the remote ingresses, and marks the proxies whose VIP listeners changed.
func (a *Agent) updateVIPs(affected map[compiler.ProxyKey]struct{}) {
	d := a.opts.Discovery
	b := a.planned()
	if d == nil || b == nil {
		return
	}
	a.mu.Lock()
	ing := a.ingresses
	a.mu.Unlock()
	dps := a.reg.Resources(schema.TypeDataplane)
	vips, changed := d.Update(b, dps, ing)
	if !changed {
		return
	}
	for _, k := range a.planner.SetVIPs(vips) {
		affected[k] = struct{}{}
	}
}
