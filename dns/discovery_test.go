package dns

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

func TestDiscoveryUpdateReportsChanges(t *testing.T) {
	b := &compiler.Bundle{Resources: []schema.Resource{
		{Type: schema.TypeMesh, Name: "a", Spec: &schema.MeshSpec{}},
		{Type: schema.TypeMesh, Name: "b", Spec: &schema.MeshSpec{}},
	}}
	dp := func(mesh, name, addr, svc string, port int) schema.Resource {
		return schema.Resource{Type: schema.TypeDataplane, Mesh: mesh, Name: name, Spec: &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{
			Address: addr, Inbound: []schema.Inbound{{Port: port, Tags: map[string]string{schema.TagService: svc}}}}}}
	}
	alloc, _ := NewAllocator(AllocatorConfig{})
	srv := newServer(Config{Log: quietLog()})
	d := &Discovery{Alloc: alloc, Server: srv, Log: quietLog()}
	dps := []schema.Resource{dp("a", "x", "10.0.0.1", "backend", 8080)}
	if _, changed := d.Update(b, dps, nil); !changed {
		t.Fatal("first update: not changed")
	}
	if _, changed := d.Update(b, dps, nil); changed {
		t.Error("same input: changed")
	}
	// another instance of the same service on the same port: VIPs unchanged, but its address is new
	dps = append(dps, dp("a", "y", "10.0.0.2", "backend", 8080))
	if _, changed := d.Update(b, dps, nil); !changed {
		t.Error("a new dataplane address: not changed (DNS would not know its mesh)")
	}
	q := query("backend.mesh.", mdns.TypeA)
	if m, _ := srv.answer(q, "", netipMust("10.0.0.2"), true); len(m.Answer) != 1 {
		t.Errorf("client at the new dataplane's address: %v", m)
	}
	if m, _ := srv.answer(q, "", netipMust("10.0.0.9"), true); m.Rcode != mdns.RcodeRefused {
		t.Errorf("unknown client with two meshes: %s, want REFUSED", mdns.RcodeToString[m.Rcode])
	}
	// a new port: new listeners
	dps = append(dps, dp("a", "z", "10.0.0.3", "backend", 9090))
	ls, changed := d.Update(b, dps, nil)
	if !changed || len(ls["a"]) != 3 {
		t.Errorf("new port: changed=%v listeners=%v, want VIP:80, :8080, :9090", changed, ls["a"])
	}
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestDiscoveryExhaustionVisible: a mesh whose vipCIDR is full leaves the new
// service without a VIP, keeps the others, and says so in the metrics and in
// GET /meshes/{mesh}/vips.
func TestDiscoveryExhaustionVisible(t *testing.T) {
	mesh := &schema.MeshSpec{}
	mesh.Networking.VIPCIDR = "10.7.0.0/30" // two usable addresses
	b := &compiler.Bundle{Resources: []schema.Resource{{Type: schema.TypeMesh, Name: "m", Spec: mesh}}}
	var dps []schema.Resource
	for i, svc := range []string{"a", "b", "c"} {
		dps = append(dps, schema.Resource{Type: schema.TypeDataplane, Mesh: "m", Name: svc, Spec: &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{
			Address: "10.0.0.1", Inbound: []schema.Inbound{{Port: 8000 + i, Tags: map[string]string{schema.TagService: svc}}}}}})
	}
	alloc, _ := NewAllocator(AllocatorConfig{})
	reg := prometheus.NewRegistry()
	d := &Discovery{Alloc: alloc, Log: quietLog(), Registry: reg}
	d.Update(b, dps[:2], nil)
	before := alloc.VIPs()["m"].Services
	d.Update(b, dps, nil)
	after := alloc.VIPs()["m"].Services
	if after["a"] != before["a"] || after["b"] != before["b"] || after["c"].IsValid() {
		t.Errorf("exhaustion: before %v after %v; want a and b kept, c without VIP", before, after)
	}
	mux := http.NewServeMux()
	d.RegisterAPI(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/meshes/m/vips", nil))
	if !strings.Contains(rec.Body.String(), `no free VIP in 10.7.0.0/30 for service \"c\"`) {
		t.Errorf("GET /meshes/m/vips does not show the problem:\n%s", rec.Body.String())
	}
	if got := testutil.ToFloat64(d.probGauge.WithLabelValues("m")); got != 1 {
		t.Errorf("meshc_dns_vip_problems{mesh=m} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(d.vipsGauge.WithLabelValues("m")); got != 2 {
		t.Errorf("meshc_dns_vips{mesh=m} = %v, want 2", got)
	}
}
