package dns

import (
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
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

	mu      sync.Mutex
	last    map[string][]compiler.VIPListener
	prev    []compiler.MeshServices // inputs of the last rebuild
	prevGen uint64
	prevDPs uint64
	prevErr string // problems reported by the last rebuild
	built   bool
}

// Update recomputes everything from the bundle, the zone's dataplanes and the
// other zones' ingresses. Problems (a bad vipCIDR, an exhausted range, a bad
// VirtualOutbound) are logged and leave the affected names without a VIP;
// every other name keeps its VIP. changed is false when the VIP listeners are
// those of the previous call (same services, VIPs and dataplane addresses);
// the DNS records are then left as they are.
func (d *Discovery) Update(b *compiler.Bundle, dataplanes, ingresses []schema.Resource) (listeners map[string][]compiler.VIPListener, changed bool) {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	meshes, warns := compiler.ZoneServices(b, dataplanes, ingresses)
	reqs, errs := d.Alloc.Requests(b, meshes)
	vips, serrs := d.Alloc.Sync(reqs)
	gen, dpsum := d.Alloc.Generation(), addressSum(dataplanes)
	var problems strings.Builder
	for _, w := range warns {
		problems.WriteString(w.Error() + "\n")
	}
	for _, err := range append(errs, serrs...) {
		problems.WriteString(err.Error() + "\n")
	}
	d.mu.Lock()
	same := d.built && gen == d.prevGen && dpsum == d.prevDPs && problems.String() == d.prevErr && reflect.DeepEqual(meshes, d.prev)
	last := d.last
	d.mu.Unlock()
	if same {
		return last, false
	}
	for _, w := range warns {
		log.Warn("dns: VirtualOutbound left out", "resource", w.Resource, "err", w.Error())
	}
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
	d.last, d.prev, d.prevGen, d.prevDPs, d.prevErr, d.built = out, meshes, gen, dpsum, problems.String(), true
	d.mu.Unlock()
	return out, true
}

// addressSum fingerprints which mesh each dataplane address belongs to.
func addressSum(dataplanes []schema.Resource) uint64 {
	h := fnv.New64a()
	for i := range dataplanes {
		spec := dataplanes[i].DataplaneSpec()
		if spec == nil {
			continue
		}
		h.Write([]byte(dataplanes[i].Mesh))
		h.Write([]byte{0})
		h.Write([]byte(spec.Networking.Address))
		h.Write([]byte{0})
		h.Write([]byte(spec.Networking.AdvertisedAddress))
		h.Write([]byte{1})
	}
	return h.Sum64()
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
