package zone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meshc/meshc/internal/testenv"
)

// addLoopbackVIP puts vip/32 on lo for the test (root only) and removes it after.
func addLoopbackVIP(t *testing.T, vip netip.Addr) {
	t.Helper()
	ip := testenv.Binary(t, "ip", "iproute2")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root", "adding a VIP to lo needs root (CAP_NET_ADMIN); run the test as root")
	}
	if out, err := exec.Command(ip, "addr", "add", vip.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add %s/32 dev lo: %v: %s", vip, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "addr", "del", vip.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Errorf("ip addr del %s/32 dev lo: %v: %s", vip, err, out)
		}
	})
}

// TestE2EZoneDNS runs `meshc zone --dns-addr` and `meshc dp run` as a user
// would: a backend (an HTTP server on a random port, registered over the API)
// gets a VIP from the mesh's vipCIDR; the zone's DNS answers backend.mesh with
// it (NXDOMAIN for unknown .mesh names, REFUSED outside .mesh with
// --dns-upstream none); `meshc dp run` prints the VIP outbounds; an
// application resolving with the zone's DNS reaches the backend with
// GET http://backend.mesh/ (port 80) through the web sidecar's Envoy (the VIP
// is added to lo for the test); and after a zone restart on the same state
// dir the service gets the same VIP.
func TestE2EZoneDNS(t *testing.T) {
	envoy := testenv.Envoy(t)
	if testing.Short() {
		t.Skip("end-to-end test: not with -short")
	}
	t.Parallel()
	root := t.TempDir()
	meshDir, state := filepath.Join(root, "mesh"), filepath.Join(root, "state")
	if err := os.MkdirAll(meshDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cidr := netip.MustParsePrefix(fmt.Sprintf("240.%d.%d.16/28", rand.IntN(256), rand.IntN(256)))
	writeFile(t, filepath.Join(meshDir, "mesh.yaml"), "type: Mesh\nname: default\nnetworking:\n  vipCIDR: "+cidr.String()+"\n")

	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backendPort := portOf(bl.Addr().String())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend :%d host=%s", backendPort, r.Host)
	})}
	go func() { _ = hs.Serve(bl) }()
	defer hs.Close()
	backendDP := []byte(fmt.Sprintf("type: Dataplane\nmesh: default\nname: backend-1\nnetworking:\n  address: 127.0.0.1\n  inbound:\n"+
		"    - port: %d\n      tags: {kuma.io/service: backend, kuma.io/protocol: http}\n", backendPort))

	runZone := func() (*proc, string, string) {
		z := start(t, "zone", "zone", "--name", "zone-1", "--standalone", "--dir", meshDir, "--dev", "--state-dir", state,
			"--api-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--dns-upstream", "none")
		api := z.WaitLog(t, `msg="api listening".*? addr=(\S+)`, 30*time.Second)
		dnsAddr := z.WaitLog(t, `msg="dns listening".*? addr=(\S+)`, 30*time.Second)
		z.WaitLog(t, `msg="bundle applied"`, 30*time.Second)
		req, _ := http.NewRequest(http.MethodPut, "http://"+api+"/meshes/default/dataplanes/backend-1", bytes.NewReader(backendDP))
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("register backend-1: %v %v", resp, err)
		}
		resp.Body.Close()
		return z, api, dnsAddr
	}
	lookup := func(dnsAddr, name string) (*mdns.Msg, error) {
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeA)
		return mdns.Exchange(m, dnsAddr)
	}
	waitVIP := func(dnsAddr string) netip.Addr {
		var vip netip.Addr
		eventually(t, 10*time.Second, "backend.mesh resolves", func() error {
			r, err := lookup(dnsAddr, "backend.mesh.")
			if err != nil {
				return err
			}
			if len(r.Answer) != 1 {
				return fmt.Errorf("rcode %s, %d answers", mdns.RcodeToString[r.Rcode], len(r.Answer))
			}
			vip, _ = netip.AddrFromSlice(r.Answer[0].(*mdns.A).A.To4())
			return nil
		})
		return vip
	}

	z, api, dnsAddr := runZone()
	vip := waitVIP(dnsAddr)
	if !cidr.Contains(vip) {
		t.Fatalf("backend.mesh → %s, outside the mesh's vipCIDR %s", vip, cidr)
	}
	if r, err := lookup(dnsAddr, "example.com."); err != nil || r.Rcode != mdns.RcodeRefused {
		t.Errorf("example.com with --dns-upstream none: %v %v, want REFUSED", r, err)
	}
	if r, err := lookup(dnsAddr, "nope.mesh."); err != nil || r.Rcode != mdns.RcodeNameError {
		t.Errorf("nope.mesh: %v %v, want NXDOMAIN", r, err)
	}
	var vips struct {
		Items []struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
			Service string `json:"service"`
		} `json:"items"`
	}
	_, body, err := get(context.Background(), http.DefaultClient, "http://"+api+"/meshes/default/vips")
	if err != nil || json.Unmarshal([]byte(body), &vips) != nil {
		t.Fatalf("GET /meshes/default/vips: %v %s", err, body)
	}
	var got []string
	for _, v := range vips.Items {
		got = append(got, fmt.Sprintf("%s:%d %s", v.Address, v.Port, v.Service))
	}
	if want := fmt.Sprintf("%s:80 backend,%s:%d backend", vip, vip, backendPort); strings.Join(got, ",") != want {
		t.Errorf("VIP listeners %v, want %s", got, want)
	}
	if data, err := os.ReadFile(filepath.Join(state, "vips.json")); err != nil || !strings.Contains(string(data), `"`+vip.String()+`"`) {
		t.Errorf("state dir vips.json does not hold %s: %v %s", vip, err, data)
	}

	// the web sidecar: `meshc dp run` prints the VIP outbounds, its Envoy listens on them
	webDP := filepath.Join(root, "web.yaml")
	writeFile(t, webDP, fmt.Sprintf("type: Dataplane\nmesh: default\nname: web-1\nnetworking:\n  address: 127.0.0.1\n  inbound:\n"+
		"    - port: %d\n      servicePort: %d\n      tags: {kuma.io/service: web}\n", freePort(t), freePort(t)))
	dp := start(t, "dp web-1", "dp", "run", "--cp", "http://"+api, "--dataplane", webDP, "--envoy-binary", envoy,
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--work-dir", root)
	dp.WaitLog(t, `dataplane registered`, 20*time.Second)
	dp.WaitLog(t, regexp.QuoteMeta(fmt.Sprintf("%s:80", vip))+`\s+backend\s+VIP backend\.mesh`, 10*time.Second)
	addLoopbackVIP(t, vip)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dnsAddr)
	}}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Resolver: resolver}).DialContext, DisableKeepAlives: true}}
	eventually(t, 30*time.Second, "GET http://backend.mesh/ through the sidecar", func() error {
		resp, err := client.Get("http://backend.mesh/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if want := fmt.Sprintf("backend :%d host=backend.mesh", backendPort); resp.StatusCode != 200 || string(b) != want {
			return fmt.Errorf("%s %q, want %q", resp.Status, b, want)
		}
		return nil
	})
	dp.Stop(syscall.SIGTERM)

	// restart on the same state dir: the same VIP
	z.Stop(syscall.SIGTERM)
	_, _, dnsAddr = runZone()
	if again := waitVIP(dnsAddr); again != vip {
		t.Errorf("after a restart backend.mesh → %s, was %s", again, vip)
	}
}
