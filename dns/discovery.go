package dns

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

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

	mu   sync.Mutex
	last map[string][]compiler.VIPListener
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
	d.mu.Lock()
	d.last = out
	d.mu.Unlock()
	return out
}

// Listeners returns the VIP listeners of mesh from the last Update.
func (d *Discovery) Listeners(mesh string) []compiler.VIPListener {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[mesh]
}

// RegisterAPI serves GET /meshes/{mesh}/vips: the mesh's VIP listeners (what
// every proxy of the mesh listens on, and the DNS name of each address), so
// `meshc dp run` and operators can see them.
func (d *Discovery) RegisterAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /meshes/{mesh}/vips", func(w http.ResponseWriter, r *http.Request) {
		ls := d.Listeners(r.PathValue("mesh"))
		if ls == nil {
			ls = []compiler.VIPListener{}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"mesh": r.PathValue("mesh"), "items": ls})
	})
}
