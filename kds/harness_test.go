package kds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/token"
)

// testGlobal is a real KDS server on loopback with TLS and tokens.
type testGlobal struct {
	srv     *Server
	addr    string
	caFile  string
	stateD  string
	iss     *token.Issuer
	bundles *StaticBundles
	http    *httptest.Server
	stop    func()
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startGlobal(t testing.TB, mod func(*ServerOptions)) *testGlobal {
	return startGlobalIn(t, t.TempDir(), mod)
}

// startGlobalIn starts a global whose state (token key, CAs, TLS, zone registry) is in stateDir.
func startGlobalIn(t testing.TB, stateDir string, mod func(*ServerOptions)) *testGlobal {
	t.Helper()
	g := &testGlobal{stateD: stateDir, bundles: &StaticBundles{}}
	iss, _, err := token.LoadOrCreate(g.stateD)
	if err != nil {
		t.Fatal(err)
	}
	g.iss = iss
	creds, err := ServerCredentials("", "", g.stateD, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.caFile = filepath.Join(g.stateD, ServerCertName+".crt")
	opts := ServerOptions{Bundles: g.bundles, CAs: FileCAs{Dir: g.stateD}, Tokens: iss, Log: quietLog(), StateDir: g.stateD}
	if mod != nil {
		mod(&opts)
	}
	g.srv = NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	g.start(t, ln, creds)
	mux := http.NewServeMux()
	g.srv.RegisterAPI(mux)
	g.http = httptest.NewServer(mux)
	t.Cleanup(g.http.Close)
	return g
}

func (g *testGlobal) start(t testing.TB, ln net.Listener, creds credentials.TransportCredentials) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.srv.Serve(ctx, ln, creds) }()
	var once sync.Once
	g.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(g.stop)
}

func (g *testGlobal) token(t testing.TB, zone string) string {
	t.Helper()
	tok, err := g.iss.IssueZone(zone, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// zones returns GET /zones.
func (g *testGlobal) zones(t testing.TB) map[string]ZoneStatus {
	t.Helper()
	var zs []ZoneStatus
	g.getJSON(t, "/zones", &zs)
	out := map[string]ZoneStatus{}
	for _, z := range zs {
		out[z.Name] = z
	}
	return out
}

func (g *testGlobal) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(g.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// testZone is a zone's KDS client with an in-memory sink and source.
type testZone struct {
	name   string
	client *Client
	sink   *MemorySink
	source *MemorySource
	state  string
	stop   func()
}

func startZone(t testing.TB, g *testGlobal, name string, mod func(*ClientOptions)) *testZone {
	t.Helper()
	z := &testZone{name: name, sink: NewMemorySink(), source: NewMemorySource(), state: t.TempDir()}
	return z.run(t, g, mod)
}

func (z *testZone) run(t testing.TB, g *testGlobal, mod func(*ClientOptions)) *testZone {
	t.Helper()
	tlsConf, err := ClientTLS(g.caFile)
	if err != nil {
		t.Fatal(err)
	}
	o := ClientOptions{
		Zone: z.name, Global: "grpcs://" + g.addr, Token: g.token(t, z.name), TLS: tlsConf,
		StateDir: z.state, AgentVersion: "test-1", Sink: z.sink, Source: z.source, Log: quietLog(),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	z.client = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	var once sync.Once
	z.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(z.stop)
	return z
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bundleOf builds a bundle: mesh "default" with builtin mTLS plus the given
// policies (MeshTimeout named by each string) and extra resources.
func bundleOf(policies []string, extra ...schema.Resource) *compiler.Bundle {
	rs := []schema.Resource{{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{MTLS: &schema.MTLS{
		EnabledBackend: "ca-1",
		Backends:       []schema.MTLSBackend{{Name: "ca-1", Type: "builtin", Conf: schema.BuiltinCAConf{CACert: schema.CACert{ECDSA: true}}}},
	}}}}
	for _, p := range policies {
		rs = append(rs, policy(p, "10s"))
	}
	rs = append(rs, extra...)
	schema.SortResources(rs)
	commit := "c-" + strings.Join(policies, "-")
	if len(commit) > 40 {
		commit = commit[:40]
	}
	b := &compiler.Bundle{Resources: rs, Commit: commit}
	h, _ := bundleState(b)
	b.Version = h.Hash()
	return b
}

func policy(name, timeout string) schema.Resource {
	return schema.Resource{Type: schema.TypeMeshTimeout, Name: name, Mesh: "default", Spec: &schema.PolicyBody{Spec: schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMesh},
		To:        []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMesh}, Default: map[string]any{"connectionTimeout": timeout}}},
	}}}
}

func zoneRes(name string, enabled bool) schema.Resource {
	return schema.Resource{Type: schema.TypeZone, Name: name, Spec: &schema.ZoneSpec{Enabled: enabled}}
}

func ingress(name string, services map[string]int) schema.Resource {
	sp := &schema.ZoneIngressSpec{Networking: schema.IngressNetworking{Address: "10.0.0.1", Port: 10001, AdvertisedAddress: "ingress.example", AdvertisedPort: 10001}}
	for svc, n := range services {
		sp.AvailableServices = append(sp.AvailableServices, schema.AvailableService{Mesh: "default", Tags: map[string]string{schema.TagService: svc}, Instances: n})
	}
	return schema.Resource{Type: schema.TypeZoneIngress, Name: name, Spec: sp}
}

func dataplane(name, svc string) schema.Resource {
	return schema.Resource{Type: schema.TypeDataplane, Name: name, Mesh: "default", Spec: &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{
		Address: "10.0.0.2", Inbound: []schema.Inbound{{Port: 8080, Tags: map[string]string{schema.TagService: svc}}},
	}}}
}

// applied reports whether the zone's sink holds bundle b.
func (z *testZone) applied(b *compiler.Bundle) bool {
	s, _ := z.sink.Last()
	return s.Bundle != nil && s.Bundle.Version == b.Version
}

// remoteServices lists "zone/service=instances" of the zone's remote ingresses.
func (z *testZone) remoteServices() []string {
	s, _ := z.sink.Last()
	var out []string
	for _, r := range s.RemoteIngresses {
		sp := r.ZoneIngressSpec()
		for _, a := range sp.AvailableServices {
			out = append(out, fmt.Sprintf("%s/%s=%d", sp.Zone, a.Tags[schema.TagService], a.Instances))
		}
	}
	return out
}
