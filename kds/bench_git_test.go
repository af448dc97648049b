package kds

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/reconciler"
)

func gitCmd(tb testing.TB, dir string, args ...string) {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func writePolicy(tb testing.TB, dir string, i int, timeout string) {
	tb.Helper()
	body := fmt.Sprintf(`type: MeshTimeout
name: timeout-%04d
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: svc-%04d
  to:
    - targetRef:
        kind: Mesh
      default:
        connectionTimeout: %s
`, i, i, timeout)
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("timeout-%04d.yaml", i)), []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkGitPushTo10Zones: a commit changing one policy of a 1,000-policy
// repository is pushed to a bare Git remote; the global (reconciler with a
// Git source, triggered as the webhook would) fetches, validates, compiles
// and publishes it over KDS; each iteration ends when all 10 zones (real gRPC
// over TLS on loopback) have applied the new bundle. Reports p50/p99 of push
// → applied everywhere, of the KDS part alone (bundle published at the
// global → applied everywhere), and the KDS bytes sent per zone for the change.
func BenchmarkGitPushTo10Zones(b *testing.B) {
	testenv.Binary(b, "git", "git")
	const zones, policies = 10, 1000
	tmp := b.TempDir()
	bare, work := filepath.Join(tmp, "remote.git"), filepath.Join(tmp, "work")
	gitCmd(b, tmp, "init", "-q", "--bare", "-b", "main", bare)
	gitCmd(b, tmp, "clone", "-q", bare, work)
	os.WriteFile(filepath.Join(work, "mesh.yaml"), []byte("type: Mesh\nname: default\nmtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n      type: builtin\n      conf:\n        caCert:\n          ECDSA: true\n"), 0o644)
	for i := 0; i < policies; i++ {
		writePolicy(b, work, i, "5s")
	}
	gitCmd(b, work, "add", "-A")
	gitCmd(b, work, "commit", "-qm", "init")
	gitCmd(b, work, "push", "-q", "origin", "main")

	src, err := reconciler.NewGitSource(reconciler.GitOptions{URL: bare, Ref: "main"})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	rec, err := reconciler.New(reconciler.Options{Source: src, Log: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	g := startGlobal(b, func(o *ServerOptions) { o.Bundles = rec })
	recDone := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(recDone); _ = rec.Run(ctx) }()
	defer func() { cancel(); <-recDone }()
	_ = g
	zs := make([]*testZone, zones)
	for i := range zs {
		zs[i] = startZone(b, g, fmt.Sprintf("zone-%02d", i), nil)
	}
	eventually(b, "first bundle everywhere", func() bool {
		cur := rec.Current()
		if cur == nil {
			return false
		}
		for _, z := range zs {
			if !z.applied(cur) {
				return false
			}
		}
		return true
	})
	lat := make([]time.Duration, 0, b.N)
	fan := make([]time.Duration, 0, b.N) // global published → every zone applied
	sent := g.srv.BytesSent()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		prev := rec.Current().Version
		writePolicy(b, work, 500, fmt.Sprintf("%ds", i+6))
		gitCmd(b, work, "commit", "-qam", fmt.Sprintf("change %d", i))
		b.StartTimer()
		start := time.Now()
		gitCmd(b, work, "push", "-q", "origin", "main")
		rec.Trigger() // the webhook
		deadline := time.Now().Add(30 * time.Second)
		var published time.Time
		for {
			cur := rec.Current()
			if cur.Version != prev {
				if published.IsZero() {
					published = time.Now()
				}
				done := true
				for _, z := range zs {
					if !z.applied(cur) {
						done = false
						break
					}
				}
				if done {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("push %d not applied everywhere in 30s", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
		fan = append(fan, time.Since(published))
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(fan)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(pct(fan, 0.50), "kds-p50-ms")
	b.ReportMetric(pct(fan, 0.99), "kds-p99-ms")
	b.ReportMetric(float64(g.srv.BytesSent()-sent)/float64(b.N*zones), "bytes/zone/change")
}
