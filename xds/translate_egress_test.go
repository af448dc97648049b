package xds

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// externalPlanner: mesh default (mTLS, zoneEgress as given) with an
// ExternalService httpbin at a DNS name with TLS, a MeshTrafficPermission
// letting web reach it, a web proxy calling it, and this zone's egress.
func externalPlanner(t *testing.T, zoneEgress bool) (*compiler.Planner, schema.Resource) {
	t.Helper()
	docs := `type: Mesh
name: default
mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}
routing: {zoneEgress: ` + map[bool]string{true: "true", false: "false"}[zoneEgress] + `}
---
type: ExternalService
mesh: default
name: httpbin
tags: {kuma.io/service: httpbin, kuma.io/protocol: http}
networking: {address: "httpbin.example.com:443", tls: {enabled: true, serverName: api.example.com}}
---
type: MeshTrafficPermission
mesh: default
name: web-to-httpbin
spec:
  targetRef: {kind: MeshService, name: httpbin}
  from: [{targetRef: {kind: MeshService, name: web}, default: {action: Allow}}]
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, errs := schema.LoadPaths(dir)
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	b, errs := compiler.Compile(rs, compiler.Options{})
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	p := compiler.NewPlanner("zone-a")
	p.SetBundle(b)
	eg := schema.Resource{Type: schema.TypeZoneEgress, Name: "egress", Spec: &schema.ZoneEgressSpec{}}
	eg.ZoneEgressSpec().Networking.Address, eg.ZoneEgressSpec().Networking.Port = "127.0.0.1", 10002
	p.SetZoneEgresses([]schema.Resource{eg})
	web := schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: "web", Spec: &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{
		Address:  "127.0.0.1",
		Inbound:  []schema.Inbound{{Port: 18080, Tags: map[string]string{schema.TagService: "web", schema.TagProtocol: "http"}}},
		Outbound: []schema.Outbound{{Port: 19000, Tags: map[string]string{schema.TagService: "httpbin"}}},
	}}}
	if _, err := p.UpsertDataplane(web); err != nil {
		t.Fatal(err)
	}
	return p, eg
}

func upstreamTLSOf(t *testing.T, cl *clusterv3.Cluster) *tlsv3.UpstreamTlsContext {
	t.Helper()
	if cl.TransportSocket == nil {
		return nil
	}
	u := &tlsv3.UpstreamTlsContext{}
	if err := cl.TransportSocket.GetTypedConfig().UnmarshalTo(u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestEgressTerminatesMeshTLSForExternalServices(t *testing.T) {
	p, eg := externalPlanner(t, true)
	pl, err := p.EgressPlan(eg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewTranslator().TranslateEgress(pl, map[string]*Secrets{"default": fakeSecrets})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := res.Materialize()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Consistent(); err != nil {
		t.Fatalf("go-control-plane's Consistent(): %v", err)
	}
	sni := compiler.SNI("default", "httpbin", nil)
	l, ok := res.get(typeListener, IngressListenerName)
	if !ok {
		t.Fatal("egress has no listener")
	}
	chains := l.(*listenerv3.Listener).FilterChains
	if len(chains) != 1 || chains[0].FilterChainMatch.ServerNames[0] != sni {
		t.Fatalf("filter chains %v, want one for %s", chains, sni)
	}
	down := &tlsv3.DownstreamTlsContext{}
	if err := chains[0].TransportSocket.GetTypedConfig().UnmarshalTo(down); err != nil {
		t.Fatal(err)
	}
	if !down.RequireClientCertificate.GetValue() || down.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].Name != EgressSecretIdentity("default") {
		t.Fatalf("the egress must terminate mesh mTLS with its mesh identity and require a client certificate: %v", down)
	}
	rb := &rbacnetv3.RBAC{}
	if err := chains[0].Filters[0].GetTypedConfig().UnmarshalTo(rb); err != nil {
		t.Fatalf("first filter is not RBAC: %v", err)
	}
	if !allows(rb.Rules, map[string]bool{"spiffe://default/web": true}) || allows(rb.Rules, map[string]bool{"spiffe://default/other": true}) {
		t.Fatal("egress RBAC must allow web (web-to-httpbin) and deny other services")
	}
	c, ok := res.get(typeCluster, sni)
	if !ok {
		t.Fatalf("no cluster %s", sni)
	}
	cl := c.(*clusterv3.Cluster)
	if cl.GetType() != clusterv3.Cluster_STRICT_DNS || cl.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress().Address != "httpbin.example.com" {
		t.Fatalf("egress cluster must resolve the external host: %v", cl)
	}
	if u := upstreamTLSOf(t, cl); u == nil || u.Sni != "api.example.com" {
		t.Fatalf("egress must originate TLS with SNI api.example.com: %v", u)
	}
	for _, n := range []string{EgressSecretIdentity("default"), EgressSecretCA("default")} {
		if _, ok := res.get(typeSecret, n); !ok {
			t.Fatalf("secret %s missing", n)
		}
	}
	// Without the mesh's secrets the egress does not serve its external services.
	res, err = NewTranslator().TranslateEgress(pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.get(typeListener, IngressListenerName); ok {
		t.Fatal("no secrets, nothing served, yet a listener exists")
	}

	got := render(t, func() *Resources {
		r, _ := NewTranslator().TranslateEgress(pl, map[string]*Secrets{"default": fakeSecrets})
		return r
	}())
	path := filepath.Join("testdata", "golden", "egress.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./xds -run TestEgress -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated config; if intended, run `go test ./xds -run TestEgress -update` and review the diff", path)
	}
}

func TestSidecarExternalServiceClusters(t *testing.T) {
	for _, zoneEgress := range []bool{false, true} {
		p, _ := externalPlanner(t, zoneEgress)
		pl, err := p.Plan(compiler.ProxyKey{Mesh: "default", Name: "web"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := NewTranslator().Translate(pl, fakeSecrets, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, ok := res.get(typeCluster, "httpbin")
		if !ok {
			t.Fatalf("zoneEgress=%v: no cluster httpbin", zoneEgress)
		}
		cl := c.(*clusterv3.Cluster)
		u := upstreamTLSOf(t, cl)
		if !zoneEgress {
			if cl.GetType() != clusterv3.Cluster_STRICT_DNS || cl.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress().Address != "httpbin.example.com" {
				t.Fatalf("direct: cluster must resolve the external host: %v", cl)
			}
			if u == nil || u.Sni != "api.example.com" || len(u.CommonTlsContext.GetTlsCertificateSdsSecretConfigs()) != 0 {
				t.Fatalf("direct: TLS origination with SNI api.example.com and no mesh certificate: %v", u)
			}
			continue
		}
		if cl.GetType() != clusterv3.Cluster_EDS {
			t.Fatalf("through the egress: EDS cluster, got %v", cl.GetType())
		}
		if u == nil || u.Sni != compiler.SNI("default", "httpbin", nil) || u.CommonTlsContext.GetTlsCertificateSdsSecretConfigs()[0].Name != SecretIdentity {
			t.Fatalf("through the egress: mesh mTLS with the service SNI: %v", u)
		}
		e, ok := res.get(typeEndpoint, "httpbin")
		if !ok {
			t.Fatal("no endpoints for httpbin")
		}
		got := render(t, res)
		if !bytes.Contains(got, []byte(`"port_value": 10002`)) || bytes.Contains(got, []byte("httpbin.example.com")) {
			t.Fatalf("through the egress the sidecar knows only the egress (127.0.0.1:10002), never the external address: %v", e)
		}
	}
}
