package xds

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

const (
	benchDataplanes = 10000
	benchServices   = 500
	benchOutbounds  = 5
)

func pspec(target schema.TargetRef, items ...schema.PolicyItem) *schema.PolicyBody {
	return &schema.PolicyBody{Spec: schema.PolicySpec{TargetRef: target, To: items}}
}

// benchBundle: one mTLS mesh, a mesh-wide allow, timeouts, retries and
// circuit breakers, and a 90/10 version split on every tenth service.
func benchBundle(timeout string) *compiler.Bundle {
	meshRef := schema.TargetRef{Kind: schema.KindMesh}
	ms := &schema.MeshSpec{MTLS: &schema.MTLS{EnabledBackend: "ca", Backends: []schema.MTLSBackend{{Name: "ca", Type: "builtin"}}}}
	rs := []schema.Resource{
		{Type: schema.TypeMesh, Name: "default", Spec: ms},
		{Type: schema.TypeMeshTrafficPermission, Mesh: "default", Name: "allow-all", Spec: &schema.PolicyBody{Spec: schema.PolicySpec{
			TargetRef: meshRef, From: []schema.PolicyItem{{TargetRef: meshRef, Default: map[string]any{"action": "Allow"}}}}}},
		{Type: schema.TypeMeshTimeout, Mesh: "default", Name: "timeouts", Spec: pspec(meshRef,
			schema.PolicyItem{TargetRef: meshRef, Default: map[string]any{"connectionTimeout": timeout, "http": map[string]any{"requestTimeout": "15s"}}})},
		{Type: schema.TypeMeshRetry, Mesh: "default", Name: "retries", Spec: pspec(meshRef,
			schema.PolicyItem{TargetRef: meshRef, Default: map[string]any{"http": map[string]any{"numRetries": 2}}})},
		{Type: schema.TypeMeshCircuitBreaker, Mesh: "default", Name: "cb", Spec: pspec(meshRef,
			schema.PolicyItem{TargetRef: meshRef, Default: map[string]any{"connectionLimits": map[string]any{"maxConnections": 1024}}})},
	}
	for s := 0; s < benchServices; s += 10 {
		svc := fmt.Sprintf("svc-%d", s)
		rs = append(rs, schema.Resource{Type: schema.TypeMeshHTTPRoute, Mesh: "default", Name: "split-" + svc, Spec: &schema.PolicyBody{Spec: schema.PolicySpec{
			TargetRef: meshRef,
			To: []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: svc}, Rules: []schema.RouteRule{{Default: schema.RouteDefault{BackendRefs: []schema.BackendRef{
				{Kind: schema.KindMeshServiceSubset, Name: svc, Tags: map[string]string{"version": "v1"}, Weight: 90},
				{Kind: schema.KindMeshServiceSubset, Name: svc, Tags: map[string]string{"version": "v2"}, Weight: 10},
			}}}}}},
		}}})
	}
	schema.SortResources(rs)
	return &compiler.Bundle{Version: timeout, Resources: rs}
}

// benchDataplane i provides svc-(i%500) (version v1 or v2) and calls the next five services.
func benchDataplane(i int, addr string) schema.Resource {
	s := i % benchServices
	dp := &schema.DataplaneSpec{}
	dp.Networking.Address = addr
	dp.Networking.Inbound = []schema.Inbound{{Port: 8080, Tags: map[string]string{
		schema.TagService: fmt.Sprintf("svc-%d", s), schema.TagProtocol: "http", schema.TagZone: "zone-a",
		"version": []string{"v1", "v2"}[(i/benchServices)%2]}}}
	for k := 1; k <= benchOutbounds; k++ {
		t := (s + k) % benchServices
		dp.Networking.Outbound = append(dp.Networking.Outbound, schema.Outbound{Port: 20000 + t, Tags: map[string]string{schema.TagService: fmt.Sprintf("svc-%d", t)}})
	}
	return schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: fmt.Sprintf("dp-%d", i), Spec: dp}
}

func dpAddr(i int) string { return fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256) }

// benchZone builds the whole zone: plans for every proxy, translated and
// published as snapshots.
func benchZone(b *testing.B) (*compiler.Planner, *Server) {
	p := compiler.NewPlanner("zone-a")
	p.SetBundle(benchBundle("5s"))
	for i := 0; i < benchDataplanes; i++ {
		if _, err := p.UpsertDataplane(benchDataplane(i, dpAddr(i))); err != nil {
			b.Fatal(err)
		}
	}
	srv := NewServer(ServerOptions{})
	republish(b, p, srv, p.Proxies())
	return p, srv
}

func republish(b *testing.B, p *compiler.Planner, srv *Server, keys []compiler.ProxyKey) {
	ctx := context.Background()
	for _, k := range keys {
		plan, err := p.Plan(k)
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Update(ctx, plan, fakeSecrets); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the process's user+system CPU time: the machine is shared, so
// wall time per op depends on the load; CPU time per op does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU milliseconds per op since start.
func reportCPU(b *testing.B, start time.Duration, n int) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkZoneFullBuild: 10,000 dataplanes × 500 services, every plan
// computed and translated into a consistent snapshot, from nothing.
func BenchmarkZoneFullBuild(b *testing.B) {
	before := heapInUse()
	var keep []any
	start, n := cpuTime(), 0
	for b.Loop() {
		p, srv := benchZone(b)
		keep = []any{p, srv}
		n++
	}
	b.StopTimer()
	reportCPU(b, start, n)
	after := heapInUse()
	b.ReportMetric(float64(after-before)/benchDataplanes, "B/dataplane")
	runtime.KeepAlive(keep)
}

// BenchmarkZonePolicyChange: one mesh-wide policy changes (MeshTimeout's
// connect timeout); every affected proxy is re-planned and re-published.
func BenchmarkZonePolicyChange(b *testing.B) {
	p, srv := benchZone(b)
	bundles := []*compiler.Bundle{benchBundle("6s"), benchBundle("5s")}
	i, affected := 0, 0
	start := cpuTime()
	for b.Loop() {
		keys := p.SetBundle(bundles[i%2])
		affected = len(keys)
		republish(b, p, srv, keys)
		i++
	}
	reportCPU(b, start, i)
	b.ReportMetric(float64(affected), "proxies/op")
}

// BenchmarkZoneRoutePolicyChange: one service's MeshHTTPRoute changes.
func BenchmarkZoneRoutePolicyChange(b *testing.B) {
	p, srv := benchZone(b)
	base := benchBundle("5s")
	changed := benchBundle("5s")
	for i := range changed.Resources {
		r := &changed.Resources[i]
		if r.Name == "split-svc-0" {
			body := *r.Spec.(*schema.PolicyBody)
			body.Spec.TargetRef = schema.TargetRef{Kind: schema.KindMeshService, Name: "svc-499"}
			r.Spec = &body
		}
	}
	bundles := []*compiler.Bundle{changed, base}
	i, affected := 0, 0
	start := cpuTime()
	for b.Loop() {
		keys := p.SetBundle(bundles[i%2])
		affected = len(keys)
		republish(b, p, srv, keys)
		i++
	}
	reportCPU(b, start, i)
	b.ReportMetric(float64(affected), "proxies/op")
}

// BenchmarkZoneDataplaneChange: one dataplane moves to a new address; it and
// the proxies calling its service are re-planned and re-published.
func BenchmarkZoneDataplaneChange(b *testing.B) {
	p, srv := benchZone(b)
	i, affected := 0, 0
	start := cpuTime()
	for b.Loop() {
		addr := dpAddr(7)
		if i%2 == 0 {
			addr = "10.200.0.7"
		}
		keys, err := p.UpsertDataplane(benchDataplane(7, addr))
		if err != nil {
			b.Fatal(err)
		}
		affected = len(keys)
		republish(b, p, srv, keys)
		i++
	}
	reportCPU(b, start, i)
	b.ReportMetric(float64(affected), "proxies/op")
}

// benchVIPs: every service has VIP:80 and VIP:8080, as package dns gives them.
func benchVIPs() map[string][]compiler.VIPListener {
	var ls []compiler.VIPListener
	for s := 0; s < benchServices; s++ {
		ip := fmt.Sprintf("240.0.%d.%d", s/256, s%256)
		svc := fmt.Sprintf("svc-%d", s)
		ls = append(ls, compiler.VIPListener{Address: ip, Port: 80, Service: svc, Host: svc + ".mesh"},
			compiler.VIPListener{Address: ip, Port: 8080, Service: svc, Host: svc + ".mesh"})
	}
	return map[string][]compiler.VIPListener{"default": ls}
}

// BenchmarkZoneFullBuildWithVIPs: as BenchmarkZoneFullBuild, plus a VIP
// outbound pair for each of the 500 services on every proxy (1,000 listeners
// per proxy), the way a transparent-proxy zone with .mesh DNS runs.
func BenchmarkZoneFullBuildWithVIPs(b *testing.B) {
	before := heapInUse()
	var keep []any
	start, n := cpuTime(), 0
	for b.Loop() {
		p := compiler.NewPlanner("zone-a")
		p.SetBundle(benchBundle("5s"))
		p.SetVIPs(benchVIPs())
		for i := 0; i < benchDataplanes; i++ {
			if _, err := p.UpsertDataplane(benchDataplane(i, dpAddr(i))); err != nil {
				b.Fatal(err)
			}
		}
		srv := NewServer(ServerOptions{})
		republish(b, p, srv, p.Proxies())
		keep = []any{p, srv}
		n++
	}
	b.StopTimer()
	reportCPU(b, start, n)
	b.ReportMetric(float64(heapInUse()-before)/benchDataplanes, "B/dataplane")
	runtime.KeepAlive(keep)
}

// BenchmarkZoneDataplaneChangeWithVIPs: with VIP outbounds every proxy sends
// to every service, so one instance moving re-plans every proxy of the mesh;
// the shared VIP layer is rebuilt once and each proxy only recomposed.
func BenchmarkZoneDataplaneChangeWithVIPs(b *testing.B) {
	p := compiler.NewPlanner("zone-a")
	p.SetBundle(benchBundle("5s"))
	p.SetVIPs(benchVIPs())
	for i := 0; i < benchDataplanes; i++ {
		if _, err := p.UpsertDataplane(benchDataplane(i, dpAddr(i))); err != nil {
			b.Fatal(err)
		}
	}
	srv := NewServer(ServerOptions{})
	republish(b, p, srv, p.Proxies())
	i, affected := 0, 0
	start := cpuTime()
	for b.Loop() {
		addr := dpAddr(7)
		if i%2 == 0 {
			addr = "10.200.0.7"
		}
		keys, err := p.UpsertDataplane(benchDataplane(7, addr))
		if err != nil {
			b.Fatal(err)
		}
		affected = len(keys)
		republish(b, p, srv, keys)
		i++
	}
	reportCPU(b, start, i)
	b.ReportMetric(float64(affected), "proxies/op")
}
