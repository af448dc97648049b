package zone_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

// TestE2EStandaloneZoneWithEnvoy runs a real `meshc zone --standalone`, three
// `meshc dp run` sidecars (real Envoy) for web and backend v1/v2, and checks
// mTLS, a weighted split, permissions, timeouts, retries and a live policy edit.
func TestE2EStandaloneZoneWithEnvoy(t *testing.T) {
	envoy := testenv.Envoy(t)
	if testing.Short() {
		t.Skip("end-to-end test: not with -short")
	}
	meshcBin := meshc(t)
	root := t.TempDir()
	meshDir := filepath.Join(root, "mesh")
	if err := os.MkdirAll(meshDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(meshDir, "mesh.yaml"), e2eMesh)
	writeFile(t, filepath.Join(meshDir, "allow.yaml"), e2eAllow)

	// Fixed ports so the zone can be restarted where its dataplanes expect it.
	apiAddr, xdsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startZone := func() *proc {
		z := start(t, "zone", "zone", "--name", "zone-1", "--standalone", "--dir", meshDir,
			"--state-dir", filepath.Join(root, "state"), "--api-addr", apiAddr, "--xds-addr", xdsAddr, "--dns-addr", "127.0.0.1:0")
		z.WaitLog(t, `msg="api listening"`, 30*time.Second)
		z.WaitLog(t, `msg="xds listening"`, 30*time.Second)
		z.WaitLog(t, `msg="bundle applied".* affected=`, 30*time.Second)
		return z
	}
	zone := startZone()
	cp := "http://" + apiAddr

	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	webApp := startBackend(t, "web")
	outPort := freePort(t)
	procs := map[string]*proc{}
	sidecar := func(name, svc, version string, app *backendApp, outbound int) int {
		dpFile := filepath.Join(root, name+".yaml")
		writeFile(t, dpFile, dataplaneYAML(name, svc, version, freePort(t), portOf(app.addr), outbound))
		tokOut, err := execOut(meshcBin, "dp", "token", "--mesh", "default", "--name", name, "--cp", cp)
		if err != nil {
			t.Fatalf("dp token: %v\n%s", err, tokOut)
		}
		tokFile := filepath.Join(root, name+".token")
		writeFile(t, tokFile, tokOut)
		admin := freePort(t)
		p := start(t, "dp "+name, "dp", "run", "--cp", cp, "--dataplane", dpFile, "--token-file", tokFile,
			"--envoy-binary", envoy, "--admin-addr", fmt.Sprintf("127.0.0.1:%d", admin), "--work-dir", root, "--refresh", "1s")
		p.WaitLog(t, `dataplane registered`, 20*time.Second)
		procs[name] = p
		return admin
	}
	v1Admin := sidecar("backend-v1", "backend", "v1", v1, 0)
	sidecar("backend-v2", "backend", "v2", v2, 0)
	webAdmin := sidecar("web-1", "web", "v1", webApp, outPort)
	waitRoute := func(t *testing.T, re string) { waitEnvoy(t, cp, webAdmin, re) }

	client := &http.Client{Timeout: 10 * time.Second}
	viaWeb := fmt.Sprintf("http://127.0.0.1:%d", outPort)
	ctx := context.Background()
	eventually(t, 60*time.Second, "web reaches backend through its outbound listener", func() error {
		code, body, err := get(ctx, client, viaWeb+"/")
		if err != nil {
			return err
		}
		if code != 200 || !strings.HasPrefix(body, "version=v") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})

	firstSerial := webCertSerial(t, webAdmin) // see "workload certificate rotates over SDS"

	t.Run("registry shows dataplanes online", func(t *testing.T) {
		var list struct {
			Total int `json:"total"`
			Items []struct {
				Online    bool `json:"online"`
				Dataplane struct {
					Name       string `json:"name"`
					Networking struct {
						Inbound []struct {
							Tags map[string]string `json:"tags"`
						} `json:"inbound"`
					} `json:"networking"`
				} `json:"resource"`
			} `json:"items"`
		}
		eventually(t, 10*time.Second, "3 online dataplanes", func() error {
			if err := getJSON(cp+"/meshes/default/dataplanes", &list); err != nil {
				return err
			}
			online := 0
			for _, it := range list.Items {
				if it.Online {
					online++
				}
				if z := it.Dataplane.Networking.Inbound[0].Tags["kuma.io/zone"]; z != "zone-1" {
					return fmt.Errorf("%s inbound kuma.io/zone = %q", it.Dataplane.Name, z)
				}
			}
			if list.Total != 3 || online != 3 {
				return fmt.Errorf("total %d online %d", list.Total, online)
			}
			return nil
		})
		// dp bootstrap writes what dp run gives Envoy: ADS to the zone over TLS, node id <mesh>.<name>.
		bpath := filepath.Join(root, "web-bootstrap.json")
		if out, err := execOut(meshcBin, "dp", "bootstrap", "--cp", cp, "--dataplane", filepath.Join(root, "web-1.yaml"),
			"--token-file", filepath.Join(root, "web-1.token"), "-o", bpath); err != nil {
			t.Fatalf("dp bootstrap: %v\n%s", err, out)
		}
		var boot struct {
			Node struct {
				ID string `json:"id"`
			} `json:"node"`
		}
		if b, err := os.ReadFile(bpath); err != nil || json.Unmarshal(b, &boot) != nil || boot.Node.ID != "default.web-1" {
			t.Errorf("bootstrap node id %q (%v)", boot.Node.ID, err)
		}
		if out, err := execOut(envoy, "--mode", "validate", "--disable-hot-restart", "-c", bpath); err != nil {
			t.Errorf("envoy rejects dp bootstrap's output: %v\n%s", err, out)
		}
		// The listing carries the xDS server's view (ACKed versions) and metrics count them.
		var one struct {
			XDS struct {
				Acked map[string]string `json:"acked"`
			} `json:"xds"`
		}
		if err := getJSON(cp+"/meshes/default/dataplanes/web-1", &one); err != nil || len(one.XDS.Acked) == 0 {
			t.Errorf("web-1 shows no ACKed xDS versions: %v %+v", err, one)
		}
		if _, metrics, err := get(ctx, client, cp+"/metrics"); err != nil || !strings.Contains(metrics, "meshc_zone_dataplanes_online 3") {
			t.Errorf("metrics lack meshc_zone_dataplanes_online 3: %v", err)
		}
		if out, err := execOut(meshcBin, "get", "dataplanes", "--cp", cp); err != nil || !strings.Contains(out, "web-1") || !strings.Contains(out, "zone-1") {
			t.Errorf("meshc get dataplanes against the zone: %v\n%s", err, out)
		}
		out, err := execOut(meshcBin, "inspect", "dataplane", "default/web-1", "--cp", cp)
		if err != nil || !strings.Contains(out, "outbound") || !strings.Contains(out, "spiffe://default/backend") {
			t.Errorf("inspect dataplane: %v\n%s", err, tail(out, 20))
		}
		if strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "[redacted]") {
			t.Error("inspect dataplane prints the workload private key (it must be redacted)")
		}
	})

	t.Run("mTLS between sidecars", func(t *testing.T) {
		before := v1.hits.Load() + v2.hits.Load()
		if _, _, err := get(ctx, client, viaWeb+"/"); err != nil {
			t.Fatal(err)
		}
		if v1.hits.Load()+v2.hits.Load() == before {
			t.Fatal("the request did not reach a backend")
		}
		// A plaintext request straight to backend's inbound listener gets no HTTP answer.
		inbound := dataplaneInboundPort(t, root, "backend-v1")
		code, _, err := get(ctx, &http.Client{Timeout: 3 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/", inbound))
		if err == nil {
			t.Fatalf("plaintext request to the mTLS inbound answered %d", code)
		}
		// The backend app sees the caller's SPIFFE id (x-forwarded-client-cert set by its sidecar).
		seen := 0
		for _, b := range []*backendApp{v1, v2} {
			x := b.xfcc.Load().(string)
			if x == "" {
				continue
			}
			seen++
			if !strings.Contains(x, "URI=spiffe://default/web") {
				t.Errorf("backend %s saw x-forwarded-client-cert %q, want web's SPIFFE id", b.version, x)
			}
		}
		if seen == 0 {
			t.Error("no backend saw an x-forwarded-client-cert header naming its caller")
		}
		// backend-v1's Envoy completed TLS handshakes on its inbound, every one
		// with a client certificate (web's), and none without.
		_, stats, err := get(ctx, client, fmt.Sprintf("http://127.0.0.1:%d/stats?filter=ssl\\.(handshake|no_certificate)$", v1Admin))
		if err != nil {
			t.Fatal(err)
		}
		handshakes, noCert := 0, 0
		for _, l := range lines(stats) {
			var n int
			if strings.HasPrefix(l, "listener.") && strings.HasSuffix(l[:strings.LastIndex(l, ":")], "ssl.handshake") {
				fmt.Sscan(strings.TrimSpace(l[strings.LastIndex(l, ":")+1:]), &n)
				handshakes += n
			}
			if strings.HasPrefix(l, "listener.") && strings.HasSuffix(l[:strings.LastIndex(l, ":")], "ssl.no_certificate") {
				fmt.Sscan(strings.TrimSpace(l[strings.LastIndex(l, ":")+1:]), &n)
				noCert += n
			}
		}
		if handshakes == 0 || noCert != 0 {
			t.Errorf("backend-v1 inbound TLS: %d handshakes, %d without a client certificate; stats:\n%s", handshakes, noCert, stats)
		}
	})

	t.Run("MeshHTTPRoute split 80/20", func(t *testing.T) {
		writeFile(t, filepath.Join(meshDir, "split.yaml"), e2eSplit(80, 20))
		waitRoute(t, `"weight":\s*80`)
		const n = 2000
		var got1 int
		for i := 0; i < n; i++ {
			code, body, err := get(ctx, client, viaWeb+"/")
			if err != nil || code != 200 {
				t.Fatalf("request %d: %d %v", i, code, err)
			}
			if strings.HasPrefix(body, "version=v1") {
				got1++
			}
		}
		frac := float64(got1) / n
		t.Logf("v1 share %.3f of %d requests", frac, n)
		if frac < 0.75 || frac > 0.85 {
			t.Errorf("v1 got %.1f%% of traffic, want 80%% ± 5%%", frac*100)
		}
	})

	t.Run("policy edit while traffic flows", func(t *testing.T) {
		stop := make(chan struct{})
		var failed, total, v2Only atomic.Int64
		var wg sync.WaitGroup
		var once sync.Once
		halt := func() { once.Do(func() { close(stop); wg.Wait() }) }
		defer halt()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					code, body, err := get(ctx, client, viaWeb+"/")
					total.Add(1)
					if err != nil || code != 200 {
						failed.Add(1)
						continue
					}
					if strings.HasPrefix(body, "version=v2") {
						v2Only.Add(1)
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond) // traffic is flowing on the old split
		writeFile(t, filepath.Join(meshDir, "split.yaml"), e2eSplit(0, 100))
		// After the change is served, every request goes to v2.
		eventually(t, 20*time.Second, "all traffic on v2", func() error {
			for i := 0; i < 50; i++ {
				_, body, err := get(ctx, client, viaWeb+"/")
				if err != nil || !strings.HasPrefix(body, "version=v2") {
					return fmt.Errorf("got %q %v", body, err)
				}
			}
			return nil
		})
		halt()
		t.Logf("%d requests during the edit, %d failed", total.Load(), failed.Load())
		if failed.Load() != 0 {
			t.Errorf("%d of %d requests failed while the split changed", failed.Load(), total.Load())
		}
		writeFile(t, filepath.Join(meshDir, "split.yaml"), e2eSplit(50, 50))
		waitRoute(t, `"weight":\s*50`)
	})

	t.Run("MeshTrafficPermission deny then allow", func(t *testing.T) {
		writeFile(t, filepath.Join(meshDir, "deny.yaml"), e2eDenyWeb)
		// Each backend's Envoy applies the policy on its own: wait until
		// requests (round-robin over both) are refused in a row.
		eventually(t, 20*time.Second, "web denied by both backends", func() error {
			for i := 0; i < 10; i++ {
				if code, _, err := get(ctx, client, viaWeb+"/"); err == nil && code == 200 {
					return fmt.Errorf("still 200")
				}
			}
			return nil
		})
		before := v1.hits.Load() + v2.hits.Load()
		for i := 0; i < 20; i++ {
			code, body, err := get(ctx, client, viaWeb+"/")
			if err == nil && code == 200 {
				t.Fatalf("denied request %d answered 200 %q", i, body)
			}
			if i == 0 {
				t.Logf("denied request: %d %q %v", code, strings.TrimSpace(body), err)
			}
			if err != nil || code != 403 || !strings.Contains(body, "RBAC: access denied") {
				t.Errorf("denied request: %d %q %v, want 403 RBAC: access denied", code, body, err)
			}
		}
		if after := v1.hits.Load() + v2.hits.Load(); after != before {
			t.Errorf("denied requests reached backend (%d hits)", after-before)
		}
		if err := os.Remove(filepath.Join(meshDir, "deny.yaml")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "web allowed again by both backends", func() error {
			for i := 0; i < 10; i++ {
				code, body, err := get(ctx, client, viaWeb+"/")
				if err != nil || code != 200 {
					return fmt.Errorf("%d %q %v", code, body, err)
				}
			}
			return nil
		})
	})

	t.Run("MeshServiceSubset allow: web v2 in, web v1 out", func(t *testing.T) {
		subsetPermissionE2E(t, meshDir, func(name, svc, version string, outbound int) (int, func()) {
			admin := sidecar(name, svc, version, webApp, outbound)
			return admin, func() { procs[name].Stop(syscall.SIGTERM) }
		}, viaWeb, freePort(t))
	})

	t.Run("MeshTimeout and MeshRetry", func(t *testing.T) {
		// Request ids are unique per run: /flaky fails each id's first attempt
		// only, and remembers ids for the life of the test binary (-count=N).
		run := time.Now().UnixNano()
		// Without a retry policy the flaky backend's first attempt is what web gets.
		code, _, err := get(ctx, client, viaWeb+"/flaky", "x-req-id", fmt.Sprintf("before-retry-%d", run))
		if err != nil || code != 503 {
			t.Fatalf("flaky without MeshRetry: %d %v, want 503", code, err)
		}
		writeFile(t, filepath.Join(meshDir, "timeout.yaml"), e2eTimeout)
		writeFile(t, filepath.Join(meshDir, "retry.yaml"), e2eRetry)
		waitRoute(t, `"numRetries":\s*3|"num_retries":\s*3`)
		waitRoute(t, `"0\.500s"|"timeout":\s*"0\.5s"`)
		startT := time.Now()
		code, body, err := get(ctx, client, viaWeb+"/slow")
		took := time.Since(startT)
		if err != nil || code != 504 {
			t.Errorf("slow backend: %d %q %v, want 504 at the 500ms timeout", code, body, err)
		}
		if took > 2500*time.Millisecond {
			t.Errorf("slow request took %v, the 500ms timeout did not cut it", took)
		}
		for i := 0; i < 20; i++ {
			code, body, err := get(ctx, client, viaWeb+"/flaky", "x-req-id", fmt.Sprintf("retry-%d-%d", run, i))
			if err != nil || code != 200 {
				t.Fatalf("flaky request %d with MeshRetry: %d %q %v", i, code, body, err)
			}
		}
	})

	t.Run("meshc diff --inventory against the live zone", func(t *testing.T) {
		// The proposed change: the split moves to 90/10. The zone's API is the inventory.
		next := filepath.Join(root, "next")
		if err := os.MkdirAll(next, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(meshDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(meshDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(next, e.Name()), string(b))
		}
		writeFile(t, filepath.Join(next, "split.yaml"), e2eSplit(90, 10))
		out, err := execOut(meshcBin, "diff", "--inventory", cp, meshDir, next)
		if code := exitCode(err); code != 2 {
			t.Fatalf("meshc diff: exit %d (%v), want 2\n%s", code, err, out)
		}
		if !strings.Contains(out, "proxy default.web-1:") || !strings.Contains(out, "backend{version=v1} 90") {
			t.Errorf("diff does not show web-1's new weights:\n%s", out)
		}
		if strings.Contains(out, "proxy default.backend-v1") || strings.Contains(out, "proxy default.backend-v2") {
			t.Errorf("diff lists backends that a route of web does not touch:\n%s", out)
		}
	})

	t.Run("an invalid edit changes nothing", func(t *testing.T) {
		var before struct {
			Version string `json:"version"`
		}
		if err := getJSON(cp+"/bundle", &before); err != nil || before.Version == "" {
			t.Fatalf("GET /bundle: %v %+v", err, before)
		}
		bad := filepath.Join(meshDir, "bad.yaml")
		writeFile(t, bad, "type: MeshTimeout\nname: bad\nmesh: default\nspec:\n  targetRef:\n    kind: Nope\n")
		eventually(t, 20*time.Second, "GET /bundle reports bad.yaml", func() error {
			var st struct {
				Version string `json:"version"`
				Errors  []struct {
					Pos struct {
						File string `json:"file"`
					} `json:"pos"`
				} `json:"errors"`
			}
			if err := getJSON(cp+"/bundle", &st); err != nil {
				return err
			}
			if len(st.Errors) == 0 || !strings.HasSuffix(st.Errors[0].Pos.File, "bad.yaml") {
				return fmt.Errorf("errors %+v", st.Errors)
			}
			if st.Version != before.Version {
				return fmt.Errorf("the bundle changed to %s", st.Version)
			}
			return nil
		})
		for i := 0; i < 10; i++ {
			if code, body, err := get(ctx, client, viaWeb+"/"); err != nil || code != 200 {
				t.Fatalf("traffic with an invalid edit pending: %d %q %v", code, body, err)
			}
		}
		if err := os.Remove(bad); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("workload certificate rotates over SDS", func(t *testing.T) {
		// The mesh gives workload certificates 20s; the zone reissues at
		// half-life and web's Envoy picks the new one up over SDS.
		eventually(t, 30*time.Second, "a new workload certificate in web's Envoy", func() error {
			if s := webCertSerial(t, webAdmin); s == firstSerial {
				return fmt.Errorf("still serial %s", s)
			}
			return nil
		})
		if code, body, err := get(ctx, client, viaWeb+"/"); err != nil || code != 200 {
			t.Fatalf("after rotation: %d %q %v", code, body, err)
		}
	})

	t.Run("zone restart: traffic continues, dataplanes rejoin", func(t *testing.T) {
		zone.Stop(syscall.SIGTERM)
		// Envoy keeps its last config while the zone is down.
		for i := 0; i < 20; i++ {
			if code, body, err := get(ctx, client, viaWeb+"/"); err != nil || code != 200 {
				t.Fatalf("with the zone down: %d %q %v", code, body, err)
			}
		}
		zone = startZone()
		// The restarted zone has the same CA, token key and TLS certificate
		// (state dir); dp run re-registers (--refresh) and Envoys reconnect.
		eventually(t, 30*time.Second, "3 dataplanes online again", func() error {
			var list struct {
				Items []struct {
					Online bool `json:"online"`
				} `json:"items"`
			}
			if err := getJSON(cp+"/meshes/default/dataplanes", &list); err != nil {
				return err
			}
			online := 0
			for _, it := range list.Items {
				if it.Online {
					online++
				}
			}
			if online != 3 {
				return fmt.Errorf("%d of %d online", online, len(list.Items))
			}
			return nil
		})
		if strings.Contains(zone.Output(), "mesh CA generated") {
			t.Error("the restarted zone generated a new mesh CA instead of loading the persisted one")
		}
		eventually(t, 20*time.Second, "traffic through the restarted zone's config", func() error {
			code, body, err := get(ctx, client, viaWeb+"/")
			if err != nil || code != 200 {
				return fmt.Errorf("%d %q %v", code, body, err)
			}
			return nil
		})
	})

	t.Run("dp run deregisters on SIGTERM", func(t *testing.T) {
		procs["web-1"].Stop(syscall.SIGTERM)
		if !strings.Contains(procs["web-1"].Output(), "dataplane deregistered") {
			t.Errorf("dp run did not report deregistering:\n%s", tail(procs["web-1"].Output(), 10))
		}
		code, _, err := get(ctx, client, cp+"/meshes/default/dataplanes/web-1")
		if err != nil || code != http.StatusNotFound {
			t.Errorf("web-1 after dp run stopped: %d %v, want 404", code, err)
		}
	})
}
