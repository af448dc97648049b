package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

const meshYAML = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    conf:
      caCert:
        ECDSA: true
        expiration: 1y
routing:
  localityAwareLoadBalancing: %v
---
type: Mesh
name: other
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    conf:
      caCert:
        ECDSA: true
        expiration: 1y
`

const policiesYAML = `type: MeshTrafficPermission
name: allow-web-to-backend
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: backend
  from:
  - targetRef:
      kind: MeshService
      name: web
    default:
      action: Allow
---
type: MeshTrafficPermission
name: allow-all
mesh: other
spec:
  targetRef:
    kind: Mesh
  from:
  - targetRef:
      kind: Mesh
    default:
      action: Allow
---
type: MeshRetry
name: web-to-backend
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
  - targetRef:
      kind: MeshService
      name: backend
    default:
      http:
        numRetries: 3
        retryOn:
        - ConnectFailure
        - Reset
`

const zoneRouteYAML = `type: MeshHTTPRoute
name: backend-by-zone
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
  - targetRef:
      kind: MeshService
      name: backend
    rules:
    - matches:
      - path:
          type: PathPrefix
          value: /
      default:
        backendRefs:
        - kind: MeshServiceSubset
          name: backend
          tags:
            kuma.io/zone: zone-a
          weight: 90
        - kind: MeshServiceSubset
          name: backend
          tags:
            kuma.io/zone: zone-b
          weight: 10
`

// topo is the shared topology: a global on a bare Git remote, two zones,
// an ingress in each, and sidecars.
type topo struct {
	t      testing.TB
	tmp    string
	envoy  string
	bare   string
	work   string
	gstate string
	gAPI   string
	kds    string
	global *proc
	zones  map[string]*zoneProc
	admins map[string]string // proxy name → Envoy admin address
	client *http.Client
}

type zoneProc struct {
	name, api, xds, state, token string
	p                            *proc
}

func (tp *topo) push(msg string, files map[string]string) {
	tp.t.Helper()
	for name, content := range files {
		if content == "" {
			git(tp.t, tp.work, "rm", "-q", name)
			continue
		}
		writeFile(tp.t, filepath.Join(tp.work, name), content)
		git(tp.t, tp.work, "add", name)
	}
	git(tp.t, tp.work, "commit", "-qm", msg)
	git(tp.t, tp.work, "push", "-q", "origin", "main")
}

func (tp *topo) startGlobal() {
	tp.global = meshc(tp.t, "global", "global", "--git", tp.bare, "--ref", "main", "--poll", "200ms",
		"--state-dir", tp.gstate, "--api-addr", tp.gAPI, "--kds-addr", tp.kds, "--log-level", "info")
	tp.global.logged(`msg="kds listening"`)
}

func (tp *topo) startZone(name string) {
	z := tp.zones[name]
	if z == nil {
		z = &zoneProc{name: name, api: freeAddr(tp.t), xds: freeAddr(tp.t), state: filepath.Join(tp.tmp, name), token: filepath.Join(tp.tmp, name+".token")}
		out, err := exec.Command(meshcBin, "token", "zone", "--name", name, "--state-dir", tp.gstate, "-o", z.token).CombinedOutput()
		if err != nil {
			tp.t.Fatalf("meshc token zone: %v\n%s", err, out)
		}
		tp.zones[name] = z
	}
	z.p = meshc(tp.t, name, "zone", "--name", name, "--global", "grpcs://"+tp.kds, "--token-file", z.token,
		"--ca-cert", filepath.Join(tp.gstate, "kds-server.crt"), "--state-dir", z.state,
		"--api-addr", z.api, "--xds-addr", z.xds, "--dns-addr", "", "--dev", "--log-level", "info")
	z.p.logged(`msg="xds listening"`)
}

// sidecar runs `meshc dp run` for a Dataplane in zone.
func (tp *topo) sidecar(zone, mesh, name, body string) *proc {
	tp.t.Helper()
	f := filepath.Join(tp.tmp, "dp-"+name+".yaml")
	writeFile(tp.t, f, body)
	admin := freeAddr(tp.t)
	tp.admins[name] = admin
	return meshc(tp.t, "dp "+name, "dp", "run", "--cp", "http://"+tp.zones[zone].api, "--dataplane", f,
		"--admin-addr", admin, "--envoy-binary", tp.envoy, "--refresh", "2s")
}

func backendDP(name, version string, inbound string, app *app) string {
	return fmt.Sprintf(`type: Dataplane
mesh: default
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %s
    servicePort: %d
    tags:
      kuma.io/service: backend
      kuma.io/protocol: http
      version: %s
`, name, inbound, app.port(), version)
}

func clientDP(mesh, name, svc, inbound string, app *app, outbound string) string {
	return fmt.Sprintf(`type: Dataplane
mesh: %s
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %s
    servicePort: %d
    tags:
      kuma.io/service: %s
      kuma.io/protocol: http
  outbound:
  - port: %s
    tags:
      kuma.io/service: backend
`, mesh, name, inbound, app.port(), svc, outbound)
}

// share returns the fraction of answers whose body starts with prefix.
func share(c map[string]int, prefix string) float64 {
	n, total := 0, 0
	for k, v := range c {
		total += v
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

// newTopo pushes files to a new bare Git remote and starts a global on it,
// zone-a and zone-b (KDS over TLS with zone tokens; xDS with --dev) and an
// ingress Envoy in each zone.
func newTopo(t testing.TB, files map[string]string) *topo {
	testenv.Binary(t, "git", "git")
	tp := &topo{t: t, tmp: t.TempDir(), envoy: testenv.Envoy(t), zones: map[string]*zoneProc{}, admins: map[string]string{},
		client: &http.Client{Timeout: 10 * time.Second}}
	tp.bare, tp.work, tp.gstate = filepath.Join(tp.tmp, "remote.git"), filepath.Join(tp.tmp, "work"), filepath.Join(tp.tmp, "global")
	tp.gAPI, tp.kds = freeAddr(t), freeAddr(t)
	git(t, tp.tmp, "init", "-q", "--bare", "-b", "main", tp.bare)
	git(t, tp.tmp, "clone", "-q", tp.bare, tp.work)
	tp.push("meshes and policies", files)
	tp.startGlobal()
	tp.startZone("zone-a")
	tp.startZone("zone-b")
	for _, zone := range []string{"zone-a", "zone-b"} {
		admin := freeAddr(t)
		tp.admins["ingress-"+zone] = admin
		meshc(t, "ingress "+zone, "dp", "run", "--type", "ingress", "--name", "ingress-"+zone,
			"--cp", "http://"+tp.zones[zone].api, "--ingress-addr", freeAddr(t), "--admin-addr", admin,
			"--envoy-binary", tp.envoy, "--refresh", "2s")
	}
	return tp
}

// dumpOnFailure logs every proxy's Envoy admin /clusters and stats when the
// test fails (call it after starting the proxies: cleanups run last-in first-out).
func (tp *topo) dumpOnFailure() {
	t := tp.t
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for name, admin := range tp.admins {
			for _, path := range []string{"/clusters", "/stats?filter=ssl|cx_|rbac|listener|outlier|health|retry|upstream_rq"} {
				if resp, err := http.Get("http://" + admin + path); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Logf("---- %s %s ----\n%s", name, path, nonZero(string(b)))
				}
			}
		}
	})
}

// TestE2ECrossZone: web in zone-a calls backend in zone-a (1 instance) and
// zone-b (2 instances) through zone-b's ingress, over mTLS end to end.
func TestE2ECrossZone(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, map[string]string{"mesh.yaml": fmt.Sprintf(meshYAML, false), "policies.yaml": policiesYAML})

	apps := map[string]*app{}
	dps := map[string]*proc{}
	for _, b := range []struct{ zone, name, version string }{
		{"zone-a", "backend-a1", "v1"}, {"zone-b", "backend-b1", "v1"}, {"zone-b", "backend-b2", "v2"},
	} {
		apps[b.name] = startApp(t, b.name)
		dps[b.name] = tp.sidecar(b.zone, "default", b.name, backendDP(b.name, b.version, portOf(freeAddr(t)), apps[b.name]))
	}
	webOut := portOf(freeAddr(t))
	tp.sidecar("zone-a", "default", "web-a", clientDP("default", "web-a", "web", portOf(freeAddr(t)), startApp(t, "web-a"), webOut))
	webURL := "http://127.0.0.1:" + webOut + "/"
	tp.dumpOnFailure()
	// Steps share the topology in order: the first failure ends the test.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("split by instance count without locality awareness", func(t *testing.T) {
		waitFor(t, 90*time.Second, "web reaches backend in both zones", func() error {
			c := counts(tp.client, webURL, 30)
			if c["backend-a1"] == 0 || c["backend-b1"]+c["backend-b2"] == 0 || failures(c) > 0 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
		c := counts(tp.client, webURL, 3000)
		if f := failures(c); f > 0 {
			t.Fatalf("%d failed requests: %v", f, c)
		}
		t.Logf("3000 requests without locality awareness: %v (zone-a %.3f)", c, share(c, "backend-a"))
		if a := share(c, "backend-a"); a < 1.0/3-0.05 || a > 1.0/3+0.05 {
			t.Fatalf("zone-a got %.3f of 3000 requests, want 1/3 ± 0.05 (1 local instance vs 2 in zone-b): %v", a, c)
		}
	})

	allLocal := func(t *testing.T, what string) {
		t.Helper()
		waitFor(t, 60*time.Second, what, func() error {
			if c := counts(tp.client, webURL, 100); c["backend-a1"] != 100 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
		if c := counts(tp.client, webURL, 500); c["backend-a1"] != 500 {
			t.Fatalf("with locality awareness every request stays in zone-a: %v", c)
		}
	}

	step("locality aware keeps traffic local", func(t *testing.T) {
		tp.push("locality aware", map[string]string{"mesh.yaml": fmt.Sprintf(meshYAML, true)})
		allLocal(t, "traffic moves to zone-a only")
	})

	step("route split by kuma.io/zone", func(t *testing.T) {
		tp.push("90/10 by zone", map[string]string{"route.yaml": zoneRouteYAML})
		waitFor(t, 60*time.Second, "zone-b gets a share again", func() error {
			if c := counts(tp.client, webURL, 200); share(c, "backend-b") == 0 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
		c := counts(tp.client, webURL, 2000)
		if f := failures(c); f > 0 {
			t.Fatalf("%d failed requests: %v", f, c)
		}
		t.Logf("2000 requests with the 90/10 zone route: %v (zone-b %.3f)", c, share(c, "backend-b"))
		if b := share(c, "backend-b"); b < 0.05 || b > 0.15 {
			t.Fatalf("zone-b got %.3f of 2000 requests, want 0.10 ± 0.05: %v", b, c)
		}
		tp.push("drop the zone route", map[string]string{"route.yaml": ""})
		allLocal(t, "traffic back to zone-a only")
	})

	step("second mesh cannot reach the first", func(t *testing.T) {
		out := portOf(freeAddr(t))
		tp.sidecar("zone-a", "other", "intruder", clientDP("other", "intruder", "intruder", portOf(freeAddr(t)), startApp(t, "intruder"), out))
		url := "http://127.0.0.1:" + out + "/"
		waitFor(t, 60*time.Second, "the intruder's sidecar listens on its outbound", func() error {
			c, err := net.Dial("tcp", "127.0.0.1:"+out)
			if err != nil {
				return err
			}
			return c.Close()
		})
		if c := counts(tp.client, url, 20); share(c, "backend") != 0 {
			t.Fatalf("a proxy of mesh other reached backend of mesh default: %v", c)
		}
	})

	step("local instance stops: failover to zone-b", func(t *testing.T) {
		var mu sync.Mutex
		total := map[string]int{}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := counts(tp.client, webURL, 10)
				mu.Lock()
				for k, v := range c {
					total[k] += v
				}
				mu.Unlock()
			}
		}()
		dps["backend-a1"].stop(syscall.SIGTERM)
		waitFor(t, 60*time.Second, "traffic fails over to zone-b", func() error {
			if c := counts(tp.client, webURL, 100); share(c, "backend-b") != 1 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		if f := failures(total); f > 5 {
			t.Fatalf("%d requests failed during the failover (want at most 5): %v", f, total)
		}
		t.Logf("during failover: %v", total)
	})

	step("zone egress carries cross-zone traffic", func(t *testing.T) {
		egressAddr, egressAdmin := freeAddr(t), freeAddr(t)
		egress := meshc(t, "egress zone-a", "dp", "run", "--type", "egress", "--name", "egress-a",
			"--cp", "http://"+tp.zones["zone-a"].api, "--egress-addr", egressAddr, "--admin-addr", egressAdmin,
			"--envoy-binary", tp.envoy, "--refresh", "2s")
		withEgress := strings.Replace(fmt.Sprintf(meshYAML, true), "localityAwareLoadBalancing: true", "localityAwareLoadBalancing: true\n  zoneEgress: true", 1)
		tp.push("route through the zone egress", map[string]string{"mesh.yaml": withEgress})
		// web-a's only endpoint for backend (zone-b) is now the egress.
		waitFor(t, 60*time.Second, "web-a reaches zone-b through the egress", func() error {
			ports, err := tp.clusterEndpointPorts("zone-a", "web-a", "backend")
			if err != nil {
				return err
			}
			if len(ports) != 1 || fmt.Sprint(ports[0]) != portOf(egressAddr) {
				return fmt.Errorf("backend's endpoints are %v, not the egress %s yet", ports, egressAddr)
			}
			if c := counts(tp.client, webURL, 100); failures(c) > 0 || share(c, "backend-b") != 1 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
		// An ExternalService (an HTTP server outside the mesh) is reached through the egress only.
		httpbin := startApp(t, "httpbin")
		tp.push("external service httpbin", map[string]string{"external.yaml": externalYAML(httpbin.port(), true)})
		extOut := portOf(freeAddr(t))
		webExt := tp.sidecar("zone-a", "default", "web-ext", externalClientDP("web-ext", portOf(freeAddr(t)), startApp(t, "web-ext"), extOut))
		extURL := "http://127.0.0.1:" + extOut + "/"
		checkExternalThroughEgress(t, tp, extURL, egressAddr, egressAdmin)
		checkEgressDenies(t, tp, extURL, httpbin.port())
		// Without the egress, zone-b and httpbin are unreachable: traffic went through it only.
		egress.stop(syscall.SIGTERM)
		waitFor(t, 60*time.Second, "no cross-zone or external traffic without the egress", func() error {
			if c := counts(tp.client, webURL, 20); failures(c) != 20 {
				return fmt.Errorf("answers %v", c)
			}
			if c := counts(tp.client, extURL, 20); failures(c) != 20 {
				return fmt.Errorf("httpbin answers %v", c)
			}
			return nil
		})
		tp.push("no zone egress", map[string]string{"mesh.yaml": fmt.Sprintf(meshYAML, true)})
		waitFor(t, 60*time.Second, "zone-b reachable again through its ingress, httpbin directly", func() error {
			if c := counts(tp.client, webURL, 100); failures(c) > 0 {
				return fmt.Errorf("answers %v", c)
			}
			if c := counts(tp.client, extURL, 20); c["httpbin"] != 20 {
				return fmt.Errorf("httpbin answers %v", c)
			}
			return nil
		})
		webExt.stop(syscall.SIGTERM)
	})

	step("global killed: cross-zone traffic and zone-b registrations continue", func(t *testing.T) {
		tp.global.stop(syscall.SIGKILL)
		if c := counts(tp.client, webURL, 300); share(c, "backend-b") != 1 {
			t.Fatalf("cross-zone traffic with the global down: %v", c)
		}
		webBOut := portOf(freeAddr(t))
		// The applications live as long as the topology (tp.t), not this
		// step: backend-b3 must still answer after the restarts.
		tp.sidecar("zone-b", "default", "web-b", clientDP("default", "web-b", "web", portOf(freeAddr(t)), startApp(tp.t, "web-b"), webBOut))
		apps["backend-b3"] = startApp(tp.t, "backend-b3")
		dps["backend-b3"] = tp.sidecar("zone-b", "default", "backend-b3", backendDP("backend-b3", "v1", portOf(freeAddr(t)), apps["backend-b3"]))
		waitFor(t, 60*time.Second, "the new instance answers in zone-b", func() error {
			if c := counts(tp.client, "http://127.0.0.1:"+webBOut+"/", 30); c["backend-b3"] == 0 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
	})

	step("zone-b agent killed: existing traffic continues", func(t *testing.T) {
		tp.zones["zone-b"].p.stop(syscall.SIGKILL)
		c := counts(tp.client, webURL, 300)
		if f := failures(c); f > 0 || share(c, "backend-b") != 1 {
			t.Fatalf("traffic to zone-b with its agent down: %v", c)
		}
	})

	step("restarts converge", func(t *testing.T) {
		tp.startGlobal()
		tp.startZone("zone-b")
		// zone-b relearns its proxies from `dp run` re-registrations; zone-a
		// learns zone-b's new instance through the global: web-a's endpoint
		// at zone-b's ingress weighs 3 instances (b1, b2 and b3, added while
		// the global was down). (Requests to it keep using the TCP
		// connections web-a already has through the ingress, so which zone-b
		// instance answers is not a convergence signal.)
		waitFor(t, 90*time.Second, "zone-a's view of zone-b converges", func() error {
			var link struct {
				Connected       bool `json:"connected"`
				RemoteIngresses []struct {
					AvailableServices []struct {
						Mesh      string            `json:"mesh"`
						Tags      map[string]string `json:"tags"`
						Instances int               `json:"instances"`
					} `json:"availableServices"`
				} `json:"remoteIngresses"`
			}
			if err := getJSON("http://"+tp.zones["zone-a"].api+"/global", &link); err != nil {
				return err
			}
			n := 0
			for _, ri := range link.RemoteIngresses {
				for _, as := range ri.AvailableServices {
					if as.Mesh == "default" && as.Tags["kuma.io/service"] == "backend" {
						n += as.Instances
					}
				}
			}
			if !link.Connected || n != 3 {
				return fmt.Errorf("connected %v, zone-b backend instances %d (want 3)", link.Connected, n)
			}
			var dump struct {
				Resources map[string][]struct {
					ClusterName string `json:"clusterName"`
					Endpoints   []struct {
						LoadBalancingWeight int `json:"loadBalancingWeight"`
					} `json:"endpoints"`
				} `json:"resources"`
			}
			if err := getJSON("http://"+tp.zones["zone-a"].api+"/meshes/default/dataplanes/web-a/xds", &dump); err != nil {
				return err
			}
			for _, cla := range dump.Resources["envoy.config.endpoint.v3.ClusterLoadAssignment"] {
				if cla.ClusterName == "backend" && len(cla.Endpoints) == 1 && cla.Endpoints[0].LoadBalancingWeight == 3 {
					return nil
				}
			}
			return fmt.Errorf("web-a's backend endpoints do not weigh zone-b at 3 yet")
		})
		// The restarted zone-b serves its sidecars again (they reconnected to
		// the new agent): cross-zone traffic flows through its ingress to
		// zone-b's backends, every request answered.
		waitFor(t, 60*time.Second, "cross-zone traffic after the restarts", func() error {
			if c := counts(tp.client, webURL, 100); failures(c) > 0 || share(c, "backend-b") != 1 {
				return fmt.Errorf("answers %v", c)
			}
			return nil
		})
	})

}

// nonZero drops admin lines that end in a zero count (noise in failure logs).
func nonZero(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, ": 0") || strings.HasSuffix(l, "::0") || l == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
