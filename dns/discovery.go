package dns

import (
	"log/slog"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// Discovery joins the allocator and the server for the zone agent: given the
// zone's whole view after a change, it allocates VIPs, swaps the DNS records,
// and returns each mesh's VIP listeners for the plan (compiler.PlanInput.VIPs).
type Discovery struct {
	Alloc  *Allocator
	Server *Server // nil: VIPs and listeners only, no DNS
	Log    *slog.Logger
}

// Update recomputes everything from the bundle, the zone's dataplanes and the
// other zones' ingresses. Problems (a bad vipCIDR, an exhausted range, a bad
// VirtualOutbound) are logged and leave the affected names without a VIP;
// every other name keeps its VIP.
func (d *Discovery) Update(b *compiler.Bundle, dataplanes, ingresses []schema.Resource) map[string][]compiler.VIPListener {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	meshes, warns := compiler.ZoneServices(b, dataplanes, ingresses)
	for _, w := range warns {
		log.Warn("dns: VirtualOutbound left out", "resource", w.Resource, "err", w.Error())
	}
	reqs, errs := d.Alloc.Requests(b, meshes)
	vips, serrs := d.Alloc.Sync(reqs)
	for _, err := range append(errs, serrs...) {
		log.Error("dns: VIP not allocated", "err", err)
	}
	if d.Server != nil {
		d.Server.SetSource(NewTable(vips, meshes, dataplanes))
	}
	out := make(map[string][]compiler.VIPListener, len(meshes))
	for _, ms := range meshes {
		if ls := compiler.VIPOutbounds(ms, vips[ms.Mesh]); len(ls) > 0 {
			out[ms.Mesh] = ls
		}
	}
	return out
}
