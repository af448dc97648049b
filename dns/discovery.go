package dns

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

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
	// Registry receives meshc_dns_vips and meshc_dns_vip_problems (nil: none).
	Registry prometheus.Registerer

	metricsOnce sync.Once
	vipsGauge   *prometheus.GaugeVec
	probGauge   *prometheus.GaugeVec
	problems    map[string][]string // mesh → problems of the last rebuild

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
	problemsByMesh := map[string][]string{}
	for _, w := range warns {
		log.Warn("dns: VirtualOutbound left out", "resource", w.Resource, "err", w.Error())
		if parts := strings.SplitN(w.Resource, "/", 3); len(parts) == 3 {
			problemsByMesh[parts[1]] = append(problemsByMesh[parts[1]], w.Error())
		}
	}
	for _, err := range append(errs, serrs...) {
		log.Error("dns: VIP not allocated", "err", err)
		var me interface{ MeshName() string }
		if errors.As(err, &me) {
			problemsByMesh[me.MeshName()] = append(problemsByMesh[me.MeshName()], err.Error())
		}
	}
	d.record(vips, meshes, problemsByMesh)
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

// record updates the metrics and the problems GET /meshes/{mesh}/vips shows.
func (d *Discovery) record(vips compiler.VIPs, meshes []compiler.MeshServices, problems map[string][]string) {
	d.metricsOnce.Do(func() {
		d.vipsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshc_dns_vips",
			Help: "Names (services and VirtualOutbound hosts) holding a VIP, per mesh."}, []string{"mesh"})
		d.probGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshc_dns_vip_problems",
			Help: "Names left without a VIP or VirtualOutbound hosts left out (exhausted range, bad vipCIDR, bad template), per mesh."}, []string{"mesh"})
		if d.Registry != nil {
			for _, c := range []prometheus.Collector{d.vipsGauge, d.probGauge} {
				if err := d.Registry.Register(c); err != nil && d.Log != nil {
					d.Log.Warn("dns: register metric", "err", err)
				}
			}
		}
	})
	d.vipsGauge.Reset()
	d.probGauge.Reset()
	for _, ms := range meshes {
		mv := vips[ms.Mesh]
		d.vipsGauge.WithLabelValues(ms.Mesh).Set(float64(len(mv.Services) + len(mv.Hosts)))
		d.probGauge.WithLabelValues(ms.Mesh).Set(float64(len(problems[ms.Mesh])))
	}
	d.mu.Lock()
	d.problems = problems
	d.mu.Unlock()
}

// Problems returns what kept names of mesh from a VIP at the last change.
func (d *Discovery) Problems(mesh string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.problems[mesh]
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
		out := map[string]any{"mesh": r.PathValue("mesh"), "items": ls}
		if ps := d.Problems(r.PathValue("mesh")); len(ps) > 0 {
			out["problems"] = ps
		}
		_ = enc.Encode(out)
	})
}
