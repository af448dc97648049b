package dns

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// generatedZone is one mesh with n services (half of them Kubernetes-style
// names, so both name forms are served).
func generatedZone(b testing.TB, n int) ([]compiler.MeshServices, compiler.VIPs) {
	ms := compiler.MeshServices{Mesh: "default"}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		if i%2 == 1 {
			name = fmt.Sprintf("svc-%05d_ns-%d_svc_8080", i, i%50)
		}
		ms.Services = append(ms.Services, compiler.ServiceEntry{Name: name, Ports: []int{8080}})
	}
	sort.Slice(ms.Services, func(i, j int) bool { return ms.Services[i].Name < ms.Services[j].Name })
	a, err := NewAllocator(AllocatorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	vips, errs := a.Sync([]MeshRequest{{MeshServices: ms}})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	return []compiler.MeshServices{ms}, vips
}

// BenchmarkQueriesLoopback measures the DNS server on loopback over UDP with a
// generated zone of 10,000 services: a Go load generator (1 or 16 clients, each
// with its own socket and one query in flight) asks for A records of random
// services (both name forms); reports queries/s and p50/p99 latency. Client
// and server share the machine's cores.
func BenchmarkQueriesLoopback(b *testing.B) {
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", workers), func(b *testing.B) { benchLoopback(b, workers) })
	}
}

func benchLoopback(b *testing.B, workers int) {
	meshes, vips := generatedZone(b, 10000)
	s := startServer(b, Config{Addr: "127.0.0.1:0"}, NewTable(vips, meshes, nil))
	var names []string
	for _, svc := range meshes[0].Services {
		names = append(names, compiler.ServiceDNSNames(svc.Name)...)
	}
	packed := make([][]byte, len(names))
	for i, n := range names {
		m := query(n+".", mdns.TypeA)
		packed[i], _ = m.Pack()
	}
	var next atomic.Int64
	lat := make([][]time.Duration, workers)
	var failures atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := net.Dial("udp", s.Addr())
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			buf := make([]byte, 1500)
			pkt := make([]byte, 0, 512)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				q := packed[(i*7919)%int64(len(packed))]
				pkt = append(pkt[:0], q...)
				id := uint16(i)
				pkt[0], pkt[1] = byte(id>>8), byte(id)
				t0 := time.Now()
				if _, err := conn.Write(pkt); err != nil {
					failures.Add(1)
					continue
				}
				_ = conn.SetReadDeadline(t0.Add(2 * time.Second))
				for {
					n, err := conn.Read(buf)
					if err != nil {
						failures.Add(1)
						break
					}
					if n >= 12 && buf[0] == pkt[0] && buf[1] == pkt[1] {
						if buf[3]&0xF != 0 || buf[7] != 1 { // rcode, ancount
							failures.Add(1)
						}
						lat[w] = append(lat[w], time.Since(t0))
						break
					}
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d queries failed or got no A record", f, b.N)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "queries/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkAnswer10k is the handler alone (no sockets): one A query against a
// 10,000-service table.
func BenchmarkAnswer10k(b *testing.B) {
	meshes, vips := generatedZone(b, 10000)
	s := newServer(Config{Log: quietLog()})
	s.SetSource(NewTable(vips, meshes, nil))
	q := query("svc-04242.mesh.", mdns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if m, _ := s.answer(q, "default", netipLoopback, true); len(m.Answer) != 1 {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkSync10k is a full VIP sync of 10,000 services with one service
// added (the zone agent's work per inventory change), persisted to disk.
func BenchmarkSync10k(b *testing.B) {
	meshes, _ := generatedZone(b, 10000)
	a, err := NewAllocator(AllocatorConfig{StatePath: b.TempDir() + "/vips.json"})
	if err != nil {
		b.Fatal(err)
	}
	if _, errs := a.Sync([]MeshRequest{{MeshServices: meshes[0]}}); len(errs) > 0 {
		b.Fatal(errs)
	}
	ms := meshes[0]
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		cur := ms
		cur.Services = append(append([]compiler.ServiceEntry(nil), ms.Services...), compiler.ServiceEntry{Name: fmt.Sprintf("extra-%d", i%2)})
		if _, errs := a.Sync([]MeshRequest{{MeshServices: cur}}); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

var netipLoopback = netip.MustParseAddr("127.0.0.1")

// BenchmarkSync10kUnchanged is the zone agent's VIP work for a change that
// adds or removes no service (most registry changes): 10,000 services.
func BenchmarkSync10kUnchanged(b *testing.B) {
	meshes, _ := generatedZone(b, 10000)
	a, err := NewAllocator(AllocatorConfig{StatePath: b.TempDir() + "/vips.json"})
	if err != nil {
		b.Fatal(err)
	}
	req := []MeshRequest{{MeshServices: meshes[0]}}
	if _, errs := a.Sync(req); len(errs) > 0 {
		b.Fatal(errs)
	}
	for b.Loop() {
		if _, errs := a.Sync(req); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkDiscoveryUpdate is the zone agent's per-round DNS/VIP work with
// 10,000 dataplanes of 500 services when nothing about services changed (a
// dataplane re-registered): inventory, VIP sync, DNS table, VIP listeners.
func BenchmarkDiscoveryUpdate(b *testing.B) {
	bundle := &compiler.Bundle{Resources: []schema.Resource{{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{}}}}
	dps := make([]schema.Resource, 10000)
	for i := range dps {
		dps[i] = schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: fmt.Sprintf("dp-%05d", i), Spec: &schema.DataplaneSpec{
			Networking: schema.DataplaneNetworking{Address: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), Inbound: []schema.Inbound{
				{Port: 8080, Tags: map[string]string{schema.TagService: fmt.Sprintf("svc-%03d", i%500), schema.TagZone: "zone-a"}}}}}}
	}
	a, err := NewAllocator(AllocatorConfig{StatePath: b.TempDir() + "/vips.json"})
	if err != nil {
		b.Fatal(err)
	}
	d := &Discovery{Alloc: a, Server: newServer(Config{Log: quietLog()}), Log: quietLog()}
	d.Update(bundle, dps, nil)
	b.ReportAllocs()
	for b.Loop() {
		d.Update(bundle, dps, nil)
	}
}
