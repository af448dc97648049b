package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

const benchPolicies = `type: MeshTrafficPermission
name: allow-web
mesh: default
spec:
  targetRef:
    kind: Mesh
  from:
  - targetRef:
      kind: MeshService
      name: web
    default:
      action: Allow
`

// BenchmarkWebToBackend measures requests per second and p99 latency of
// HTTP GETs (keep-alive, 8 concurrent clients) on loopback:
//
//	direct     — straight to the backend application, no mesh
//	local      — web's sidecar → backend's sidecar in the same zone (mTLS)
//	cross-zone — web's sidecar in zone-a → zone-b's ingress (SNI passthrough) → backend's sidecar (mTLS)
//
// Run: go tool task bench (or MESHC_ENVOY=… go test -run '^$' -bench WebToBackend ./e2e).
func BenchmarkWebToBackend(b *testing.B) {
	tp := newTopo(b, map[string]string{"mesh.yaml": fmt.Sprintf(meshYAML, true), "policies.yaml": benchPolicies})
	local, remote := startApp(b, "local"), startApp(b, "remote")
	tp.sidecar("zone-a", "default", "local-1", svcDP("local-1", "backend-local", portOf(freeAddr(b)), local))
	tp.sidecar("zone-b", "default", "remote-1", svcDP("remote-1", "backend-remote", portOf(freeAddr(b)), remote))
	outLocal, outRemote := portOf(freeAddr(b)), portOf(freeAddr(b))
	tp.sidecar("zone-a", "default", "web-a", fmt.Sprintf(`type: Dataplane
mesh: default
name: web-a
networking:
  address: 127.0.0.1
  inbound:
  - port: %s
    servicePort: %d
    tags: {kuma.io/service: web, kuma.io/protocol: http}
  outbound:
  - port: %s
    tags: {kuma.io/service: backend-local}
  - port: %s
    tags: {kuma.io/service: backend-remote}
`, portOf(freeAddr(b)), startApp(b, "web").port(), outLocal, outRemote))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	targets := []struct{ name, url, want string }{
		{"direct", fmt.Sprintf("http://127.0.0.1:%d/", local.port()), "local"},
		{"local", "http://127.0.0.1:" + outLocal + "/", "local"},
		{"cross-zone", "http://127.0.0.1:" + outRemote + "/", "remote"},
	}
	for _, tg := range targets {
		waitFor(b, 90*time.Second, tg.name+" answers", func() error {
			if c := counts(client, tg.url, 20); c[tg.want] != 20 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) { loadGET(b, client, tg.url, 8) })
	}
}

func svcDP(name, svc, inbound string, a *app) string {
	return fmt.Sprintf(`type: Dataplane
mesh: default
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %s
    servicePort: %d
    tags: {kuma.io/service: %s, kuma.io/protocol: http}
`, name, inbound, a.port(), svc)
}

// loadGET sends b.N GETs to url from conc goroutines and reports req/s and
// the p50/p99 latencies; any failed request fails the benchmark.
func loadGET(b *testing.B, client *http.Client, url string, conc int) {
	lat := make([]time.Duration, b.N)
	var next int
	var mu sync.Mutex
	var failed error
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= b.N {
					return
				}
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s", resp.Status)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatalf("GET %s: %v", url, failed)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(b.N-1, b.N*99/100)].Microseconds()), "p99-µs")
}
