package reconciler

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkWebhookPushToBundle measures push → new bundle version served at
// GET /bundle, woken by a signed webhook, for a repo of 1,000 policies. Each
// iteration changes one policy, commits and pushes it with the git CLI (not
// timed), then times from the webhook POST until GET /bundle serves the new
// version. Reports p50/p99 in ms.
//
//	go test -run '^$' -bench WebhookPushToBundle -benchtime 30x ./reconciler
func BenchmarkWebhookPushToBundle(b *testing.B) {
	repo := newGitRepo(b)
	files := map[string]string{"mesh.yaml": meshYAML}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("policies/p%04d.yaml", i)] = timeoutPolicy(fmt.Sprintf("timeout-%04d", i), fmt.Sprintf("svc-%04d", i), "5s")
	}
	repo.Write(files)
	c0 := repo.CommitPush("1,000 policies")

	secret := []byte("bench")
	r := newGitReconciler(b, GitOptions{URL: repo.Bare}, Options{Poll: 0})
	base := serveAPI(b, r, nil, secret)
	startReconciler(b, r)
	deadline := time.Now().Add(2 * time.Minute)
	for getStatus(b, base).Commit != c0 {
		if time.Now().After(deadline) {
			b.Fatal("initial commit not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := getStatus(b, base).Resources; n != 1001 {
		b.Fatalf("bundle has %d resources, want 1001", n)
	}
	body := []byte(`{"ref":"refs/heads/main"}`)
	sig := Sign(secret, body)
	client := &http.Client{Timeout: 10 * time.Second}

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		prev := getStatus(b, base).Version
		n := i % 1000
		repo.Write(map[string]string{fmt.Sprintf("policies/p%04d.yaml", n): timeoutPolicy(fmt.Sprintf("timeout-%04d", n), fmt.Sprintf("svc-%04d", n), fmt.Sprintf("%ds", 10+i))})
		repo.CommitPush(fmt.Sprintf("change %d", i))
		b.StartTimer()

		t0 := time.Now()
		if code, msg := postHook(b, base, body, sig); code != http.StatusAccepted {
			b.Fatalf("webhook: %d %s", code, msg)
		}
		for {
			resp, err := client.Get(base + "/bundle")
			if err != nil {
				b.Fatal(err)
			}
			st := decodeStatus(b, resp)
			if st.Version != prev && st.Version != "" {
				break
			}
			if len(st.Errors) > 0 {
				b.Fatalf("push %d invalid: %v", i, st.Errors)
			}
			if time.Since(t0) > time.Minute {
				b.Fatalf("push %d not served within a minute", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
