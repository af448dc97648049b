package xds

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// envoyPlanner plans the fixture's mesh and policies with a web proxy on free
// loopback ports (so a real Envoy can bind its listeners), a VIP outbound,
// and a remote zone whose ingress is advertised by hostname.
func envoyPlanner(t *testing.T) (*compiler.Planner, compiler.ProxyKey) {
	t.Helper()
	rs, errs := schema.LoadPaths("testdata/fixture/mesh.yaml", "testdata/fixture/policies.yaml")
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	schema.SortResources(rs)
	p := compiler.NewPlanner("zone-a")
	p.SetBundle(&compiler.Bundle{Version: "1", Resources: rs})
	web := dpWith("web-1", freePort(t), "web", "http", "", freePort(t), freePort(t))
	for _, d := range []schema.Resource{
		web,
		dpWith("backend-v1-1", freePort(t), "backend", "http", "v1"),
		dpWith("backend-v2-1", freePort(t), "backend", "http", "v2"),
		dpWith("db-1", freePort(t), "db", "", ""),
	} {
		if _, err := p.UpsertDataplane(d); err != nil {
			t.Fatal(err)
		}
	}
	zi := &schema.ZoneIngressSpec{Zone: "zone-b", AvailableServices: []schema.AvailableService{
		{Mesh: "default", Tags: map[string]string{schema.TagService: "backend", schema.TagProtocol: "http", "version": "v1"}, Instances: 2},
		{Mesh: "default", Tags: map[string]string{schema.TagService: "db"}, Instances: 1},
	}}
	zi.Networking.AdvertisedAddress, zi.Networking.AdvertisedPort = "localhost", freePort(t)
	p.SetZoneIngresses([]schema.Resource{{Type: schema.TypeZoneIngress, Name: "zone-b", Spec: zi}})
	p.SetVIPs(map[string][]compiler.VIPListener{"default": {{Address: "240.0.0.10", Port: freePort(t), Service: "backend", Host: "backend.mesh"}}})
	return p, compiler.ProxyKey{Mesh: "default", Name: "web-1"}
}

func dpWith(name string, port int, svc, protocol, version string, outPorts ...int) schema.Resource {
	tags := map[string]string{schema.TagService: svc, schema.TagZone: "zone-a"}
	if protocol != "" {
		tags[schema.TagProtocol] = protocol
	}
	if version != "" {
		tags["version"] = version
	}
	dp := &schema.DataplaneSpec{}
	dp.Networking.Address = "127.0.0.1"
	dp.Networking.Inbound = []schema.Inbound{{Port: port, ServicePort: port + 1, Tags: tags}}
	for i, op := range outPorts {
		dp.Networking.Outbound = append(dp.Networking.Outbound, schema.Outbound{Port: op, Tags: map[string]string{schema.TagService: []string{"backend", "db"}[i]}})
	}
	return schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: name, Spec: dp}
}

// TestEnvoyAcceptsTranslation runs a real Envoy against the ADS server, over
// state of the world and over delta xDS: it must ACK listeners, routes,
// clusters, endpoints and secrets (real certificates from pki) without a NACK,
// and again after a change that removes clusters (make-before-break).
func TestEnvoyAcceptsTranslation(t *testing.T) {
	envoy := testenv.Envoy(t)
	ca, err := pki.NewCA("default", pki.CAOptions{ECDSA: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, delta := range []bool{false, true} {
		name := "sotw"
		if delta {
			name = "delta"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			srv := NewServer(ServerOptions{BreakDelay: 30 * time.Second})
			addr := startADS(t, srv)
			p, key := envoyPlanner(t)
			plan, err := p.Plan(key)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "default", Services: plan.Services, Name: key.Name}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			sec := &Secrets{CertPEM: cert.ChainPEM, KeyPEM: cert.KeyPEM, CAPEM: ca.CertPEM}
			if err := srv.Update(ctx, plan, sec); err != nil {
				t.Fatal(err)
			}
			runEnvoy(t, ctx, envoy, BootstrapOptions{Mesh: key.Mesh, Name: key.Name, XDSAddress: addr, AdminAddress: "127.0.0.1:" + strconv.Itoa(freePort(t)), Delta: delta})
			waitAllAcked(t, ctx, srv, key.String(), 5)

			// Certificate rotation: a re-issued certificate is accepted.
			cert2, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "default", Services: plan.Services, Name: key.Name}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			sec = &Secrets{CertPEM: cert2.ChainPEM, KeyPEM: cert2.KeyPEM, CAPEM: ca.CertPEM}
			if err := srv.Update(ctx, plan, sec); err != nil {
				t.Fatal(err)
			}
			waitAllAcked(t, ctx, srv, key.String(), 5)

			// Drop the route that splits backend by version: its subset
			// clusters disappear. They are kept until Envoy ACKs the new
			// routes, then removed; Envoy ACKs every step.
			var rs []schema.Resource
			b, _ := schema.LoadPaths("testdata/fixture/mesh.yaml", "testdata/fixture/policies.yaml")
			for _, r := range b {
				if r.Name != "backend-split" && r.Name != "backend-extras" {
					rs = append(rs, r)
				}
			}
			schema.SortResources(rs)
			if ks := p.SetBundle(&compiler.Bundle{Version: "2", Resources: rs}); len(ks) == 0 {
				t.Fatal("removing a route affected no proxy")
			}
			plan2, _ := p.Plan(key)
			if err := srv.Update(ctx, plan2, sec); err != nil {
				t.Fatal(err)
			}
			st := waitAllAcked(t, ctx, srv, key.String(), 5)
			res, _ := srv.Resources(key.String())
			if _, kept := res.get(typeCluster, compiler.ClusterName("backend", map[string]string{"version": "v2"})); kept {
				t.Fatalf("removed cluster still served after Envoy ACKed the new routes: %+v", st)
			}
		})
	}
}

// runEnvoy starts Envoy with a bootstrap for o and stops it at the end of the test.
func runEnvoy(t *testing.T, ctx context.Context, envoy string, o BootstrapOptions) {
	t.Helper()
	b, err := BootstrapJSON(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bootstrap.json")
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, envoy, "-c", cfg, "--disable-hot-restart", "-l", "warning", "--log-format", "%v")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start envoy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("envoy output:\n%s", logs.String())
		}
	})
}

// waitAllAcked waits until the node has ACKed the published version of every
// resource type (n types), failing at once on a NACK.
func waitAllAcked(t *testing.T, ctx context.Context, srv *Server, node string, n int) NodeStatus {
	t.Helper()
	for {
		st, _ := srv.Status(node)
		// A NACK of what is served fails the test unless the server re-offers
		// it (a type rejected because of another one) and it is then accepted.
		if l := st.LastNACK; l != nil && l.Version == st.Served[l.TypeURL] && time.Since(l.At) > 5*time.Second {
			for _, n := range srv.NACKs() {
				t.Log(path.Base(n.TypeURL), n.Version, n.Reason)
			}
			t.Fatalf("envoy rejected %s: %s (served %v)", l.TypeURL, l.Reason, st.Served[l.TypeURL])
		}
		done := len(st.Served) == n
		for u, v := range st.Served {
			if st.Acked[u] != v {
				done = false
			}
		}
		if done {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("envoy did not ACK every type: served %v acked %v", st.Served, st.Acked)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestEnvoyNACKIsRecordedNotResent: a route with a regex Envoy cannot compile
// (it passes Validate()) is rejected; the server records the NACK with Envoy's
// reason and does not re-send the same config (go-control-plane alone re-sends
// it thousands of times a second); the fixed config is then accepted.
func TestEnvoyNACKIsRecordedNotResent(t *testing.T) {
	envoy := testenv.Envoy(t)
	for _, delta := range []bool{false, true} {
		name := "sotw"
		if delta {
			name = "delta"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testNACK(t, envoy, delta)
		})
	}
}

func testNACK(t *testing.T, envoy string, delta bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := NewServer(ServerOptions{})
	addr := startADS(t, srv)
	p, key := envoyPlanner(t)
	plan, err := p.Plan(key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("default", pki.CAOptions{ECDSA: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "default", Services: plan.Services}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sec := &Secrets{CertPEM: cert.ChainPEM, KeyPEM: cert.KeyPEM, CAPEM: ca.CertPEM}

	// A copy of the plan whose backend route has an invalid RE2 regex.
	bad := *plan
	bad.Outbounds = append([]*compiler.OutboundPlan(nil), plan.Outbounds...)
	for i, o := range bad.Outbounds {
		if o.Service == "backend" {
			os := *o.OutboundService
			r := *os.Routes[0]
			r.Match = &schema.HTTPMatch{Path: &schema.PathMatch{Type: "RegularExpression", Value: "/(unclosed"}}
			os.Routes = append([]*compiler.RoutePlan{&r}, os.Routes[1:]...)
			os.Hash += "-bad"
			ob := *o
			ob.OutboundService = &os
			bad.Outbounds[i] = &ob
		}
	}
	if err := srv.Update(ctx, &bad, sec); err != nil {
		t.Fatal(err)
	}
	runEnvoy(t, ctx, envoy, BootstrapOptions{Mesh: key.Mesh, Name: key.Name, XDSAddress: addr, AdminAddress: "127.0.0.1:" + strconv.Itoa(freePort(t)), Delta: delta})
	var nack *NACK
	for nack == nil {
		st, _ := srv.Status(key.String())
		nack = st.LastNACK
		select {
		case <-ctx.Done():
			t.Fatalf("envoy never rejected the bad route: %+v", st)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if path.Base(nack.TypeURL) != "envoy.config.route.v3.RouteConfiguration" || nack.Reason == "" || nack.Version == "" {
		t.Fatalf("NACK: %+v", nack)
	}
	t.Logf("recorded NACK: %s %s: %s", nack.TypeURL, nack.Version, nack.Reason)

	if err := srv.Update(ctx, plan, sec); err != nil {
		t.Fatal(err)
	}
	waitAllAcked(t, ctx, srv, key.String(), 5)
	if n := len(srv.NACKs()); n > 2 {
		t.Fatalf("%d NACKs recorded: the rejected config was re-sent", n)
	}
}
