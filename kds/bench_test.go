package kds

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// BenchmarkPropagation10Zones: a new bundle (one policy changed in a bundle
// of 1,000 policies) is published at the global; each iteration ends when
// every one of 10 zones (real gRPC over TLS on loopback) has applied it.
// Reports p50/p99 of that time and the KDS bytes the global sent per zone for
// the change (the full bundle's size per zone is reported for comparison).
func BenchmarkPropagation10Zones(b *testing.B) {
	const zones, policies = 10, 1000
	names := make([]string, policies)
	for i := range names {
		names[i] = fmt.Sprintf("timeout-%04d", i)
	}
	mk := func(gen int) *compiler.Bundle {
		bd := bundleOf(names)
		// one policy changes per generation
		bd.Resources = slices.Clone(bd.Resources)
		for i := range bd.Resources {
			if bd.Resources[i].Name == "timeout-0500" {
				bd.Resources[i] = policy("timeout-0500", fmt.Sprintf("%ds", gen+1))
			}
		}
		st, _ := bundleState(bd)
		bd.Version = st.Hash()
		return bd
	}
	g := startGlobal(b, nil)
	first := mk(0)
	g.bundles.Set(first)
	zs := make([]*testZone, zones)
	for i := range zs {
		zs[i] = startZone(b, g, fmt.Sprintf("zone-%02d", i), nil)
	}
	for _, z := range zs {
		eventually(b, z.name+" applies the first bundle", func() bool { return z.applied(first) })
	}
	fullBytes := float64(g.srv.BytesSent()) / zones
	bundles := make([]*compiler.Bundle, b.N)
	for i := range bundles {
		bundles[i] = mk(i + 1)
	}
	lat := make([]time.Duration, 0, b.N)
	sentBefore := g.srv.BytesSent()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bd := bundles[i]
		start := time.Now()
		g.bundles.Set(bd)
		for _, z := range zs {
			for !z.applied(bd) {
				select {
				case <-z.sink.Updated:
				case <-time.After(10 * time.Second):
					b.Fatalf("%s did not apply %s", z.name, bd.Version)
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(g.srv.BytesSent()-sentBefore)/float64(b.N*zones), "bytes/zone/change")
	b.ReportMetric(fullBytes, "full-bundle-bytes/zone")
	_ = schema.TypeMesh
}
