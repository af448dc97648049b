package dns_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/dns"
	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/xds"
	"github.com/meshc/meshc/zone"
)

// publisher hands the zone agent's plans to the xDS server.
type publisher struct{ s *xds.Server }

func (p publisher) Update(plan *compiler.ProxyPlan, id *zone.WorkloadIdentity) error {
	var sec *xds.Secrets
	if id != nil {
		sec = &xds.Secrets{CertPEM: id.CertChainPEM, KeyPEM: id.KeyPEM, CAPEM: id.CAPEM}
	}
	return p.s.Update(context.Background(), plan, sec)
}
func (p publisher) Remove(k compiler.ProxyKey)  { p.s.Remove(k) }
func (p publisher) Dump(string) ([]byte, error) { return nil, errors.New("not served in this test") }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

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

// TestE2EEnvoyVIPPortMapping: a zone agent (registry → plan → xDS, VIPs →
// DNS) and a real Envoy sidecar. The backend listens on a random port; the
// client asks the zone's DNS for backend.mesh and does GET http://backend.mesh/
// (port 80) through the sidecar's VIP outbound, GET on VIP:<backend port>, and
// GET on a VirtualOutbound host's own VIP and port. The VIPs are added to lo
// for the test (the machine allows 240/4 on lo as root) and removed after.
func TestE2EEnvoyVIPPortMapping(t *testing.T) {
	envoy := testenv.Envoy(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// the backend application, on a port that is not 80
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backendPort := bl.Addr().(*net.TCPAddr).Port
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend on :%d answered %s", backendPort, r.Host)
	})}
	go func() { _ = hs.Serve(bl) }()
	defer hs.Close()

	// xDS server
	xsrv := xds.NewServer(xds.ServerOptions{Log: log})
	g := grpc.NewServer()
	xsrv.Register(g)
	xl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(xl) }()
	defer func() { g.Stop(); xsrv.Close() }()

	// zone agent with VIPs and DNS; a random /28 of 240/4, so concurrent tests do not meet
	cidr := fmt.Sprintf("240.%d.%d.0/28", rand.IntN(256), rand.IntN(256))
	alloc, err := dns.NewAllocator(dns.AllocatorConfig{StatePath: filepath.Join(t.TempDir(), "vips.json")})
	if err != nil {
		t.Fatal(err)
	}
	dsrv, err := dns.NewServer(dns.Config{Addr: "127.0.0.1:0", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := zone.New(zone.Options{Zone: "zone-a", Dev: true, Log: log, Publisher: publisher{xsrv},
		Discovery: &dns.Discovery{Alloc: alloc, Server: dsrv, Log: log}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- agent.Run(ctx) }()
	go func() { done <- dsrv.Serve(ctx) }()
	defer func() { cancel(); <-done; <-done }()

	mesh := &schema.MeshSpec{}
	mesh.Networking.VIPCIDR = cidr
	vo := &schema.VirtualOutboundSpec{
		Selectors: []schema.Selector{{Match: map[string]string{schema.TagService: "backend"}}},
		Conf: schema.VirtualOutboundConf{Host: "{{.service}}.vo.mesh", Port: "9000",
			Parameters: []schema.VOParameter{{Name: "service", TagKey: schema.TagService}}},
	}
	agent.SetBundle(&compiler.Bundle{Version: "v1", Resources: []schema.Resource{
		{Type: schema.TypeMesh, Name: "default", Spec: mesh},
		{Type: schema.TypeVirtualOutbound, Mesh: "default", Name: "by-name", Spec: vo},
	}})
	put := func(name string, in schema.Inbound) {
		t.Helper()
		if _, err := agent.Registry().Put(schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: name,
			Spec: &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{Address: "127.0.0.1", Inbound: []schema.Inbound{in}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// backend's endpoint is the application itself (no sidecar on that side)
	put("backend-1", schema.Inbound{Port: backendPort, Tags: map[string]string{schema.TagService: "backend", schema.TagProtocol: "http"}})
	put("web-1", schema.Inbound{Port: freePort(t), ServicePort: freePort(t), Tags: map[string]string{schema.TagService: "web"}})

	var vip, voVIP netip.Addr
	for deadline := time.Now().Add(10 * time.Second); !vip.IsValid() || !voVIP.IsValid(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("backend or its VirtualOutbound host got no VIP")
		}
		vip = alloc.VIPs()["default"].Services["backend"]
		voVIP = alloc.VIPs()["default"].Hosts["backend.vo.mesh"]
	}
	for _, a := range []netip.Addr{vip, voVIP} {
		if !netip.MustParsePrefix(cidr).Contains(a) {
			t.Fatalf("VIP %s outside the mesh's vipCIDR %s", a, cidr)
		}
		addLoopbackVIP(t, a)
	}

	// the client's sidecar
	boot, err := xds.BootstrapJSON(xds.BootstrapOptions{Mesh: "default", Name: "web-1", Cluster: "web",
		XDSAddress: xl.Addr().String(), AdminAddress: fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	bpath := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(bpath, boot, 0o600); err != nil {
		t.Fatal(err)
	}
	var envoyLog strings.Builder
	cmd := exec.Command(envoy, "-c", bpath, "--disable-hot-restart", "--log-level", "warning")
	cmd.Stdout, cmd.Stderr = &envoyLog, &envoyLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	// the application resolves backend.mesh with the zone's DNS
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dsrv.Addr())
	}}
	addrs, err := resolver.LookupHost(ctx, "backend.mesh")
	if err != nil || len(addrs) != 1 || addrs[0] != vip.String() {
		t.Fatalf("backend.mesh resolved to %v (%v), want %s", addrs, err, vip)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Resolver: resolver}).DialContext, DisableKeepAlives: true}}
	get := func(url string) (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), nil
	}
	want := fmt.Sprintf("backend on :%d answered", backendPort)
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body, err = get("http://backend.mesh/")
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !strings.HasPrefix(body, want) {
		t.Fatalf("GET http://backend.mesh/ through the sidecar: %q %v\nenvoy:\n%s", body, err, envoyLog.String())
	}
	body, err = get(fmt.Sprintf("http://backend.mesh:%d/", backendPort))
	if err != nil || !strings.HasPrefix(body, want) {
		t.Fatalf("GET on VIP:%d: %q %v", backendPort, body, err)
	}
	// the VirtualOutbound host has its own VIP and port
	body, err = get("http://backend.vo.mesh:9000/")
	if err != nil || !strings.HasPrefix(body, want) {
		t.Fatalf("GET http://backend.vo.mesh:9000/ (VirtualOutbound): %q %v", body, err)
	}
}
