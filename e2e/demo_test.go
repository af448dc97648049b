package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

// TestE2EDemo runs `meshc demo` as a user would, waits for the addresses it
// prints, runs the printed curl (web → backend across the demo's zones) and
// stops it with Ctrl-C (SIGINT): it must exit 0 with everything stopped.
func TestE2EDemo(t *testing.T) {
	t.Parallel()
	envoy := testenv.Envoy(t)
	p := meshc(t, "demo", "demo", "--api-addr", "127.0.0.1:0", "--state-dir", t.TempDir(), "--envoy-binary", envoy)
	api := p.logged(`global API:\s+(http://\S+)`)
	for _, z := range []string{"zone-a", "zone-b"} {
		p.logged(z + ` API:\s+http://\S+`)
		p.logged(z + ` DNS:\s+\S+`)
	}
	url := p.logged(`try:\s+curl (http://127\.0\.0\.1:\d+/)\n`)
	p.logged(`ready:\s+backend`)

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(u string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(url); code != 200 || !strings.HasPrefix(body, "backend v1 in zone-a") {
		t.Fatalf("the printed curl: %d %q, want backend v1 in zone-a (locality-aware)", code, body)
	}
	// The canary route of examples/ sends some requests across zones.
	zoneB := 0
	for range 200 {
		code, body := get(url, "x-canary", "true")
		if code != 200 {
			t.Fatalf("canary request: %d %q", code, body)
		}
		if strings.Contains(body, "in zone-b") {
			zoneB++
		}
	}
	if zoneB == 0 || zoneB > 50 {
		t.Fatalf("x-canary: %d of 200 requests reached zone-b, want about 10%%", zoneB)
	}
	if code, body := get(api + "/zones"); code != 200 || !strings.Contains(body, "zone-a") || !strings.Contains(body, "zone-b") {
		t.Fatalf("GET %s/zones: %d %s", api, code, body)
	}
	// The printed web UI shows both zones online and the services of mesh default.
	ui := p.logged(`web UI:\s+(http://\S+)`)
	if code, page := get(ui); code != 200 || !strings.Contains(page, "zone-b") || !strings.Contains(page, "Mesh default") || !strings.Contains(page, "backend") {
		t.Fatalf("GET %s: %d %s", ui, code, page)
	}

	if err := p.StopWithin(syscall.SIGINT, 30*time.Second); err != nil {
		t.Fatalf("meshc demo after SIGINT: %v:\n%s", err, tail(p.output(), 30))
	}
	if !regexp.MustCompile(`meshc demo: stopping`).MatchString(p.output()) {
		t.Fatalf("no clean stop:\n%s", tail(p.output(), 30))
	}
}
