package pki

import (
	"testing"
	"time"
)

// BenchmarkIssueWorkload: one workload certificate (new P-256 key, signed by
// the mesh CA) — what a proxy costs the zone at registration and at every
// rotation. Run: go test -run '^$' -bench IssueWorkload ./pki
func BenchmarkIssueWorkload(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts CAOptions
	}{{"ca=ECDSA", CAOptions{ECDSA: true}}, {"ca=RSA2048", CAOptions{RSABits: 2048}}} {
		b.Run(tc.name, func(b *testing.B) {
			ca, err := NewCA("default", tc.opts, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			req := WorkloadRequest{Mesh: "default", Name: "web-1", Services: []string{"web"}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ca.IssueWorkload(req, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
