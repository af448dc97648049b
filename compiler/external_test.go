package compiler

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/meshc/meshc/schema"
)

func externalService(mesh, svc, addr string, tls bool, serverName string) schema.Resource {
	es := &schema.ExternalServiceSpec{Tags: map[string]string{schema.TagService: svc, schema.TagProtocol: "http"}}
	es.Networking.Address = addr
	if tls {
		es.Networking.TLS = &struct {
			Enabled            bool   `json:"enabled"`
			ServerName         string `json:"serverName,omitempty"`
			AllowRenegotiation bool   `json:"allowRenegotiation,omitempty"`
		}{Enabled: true, ServerName: serverName}
	}
	return schema.Resource{Type: schema.TypeExternalService, Mesh: mesh, Name: svc, Spec: es}
}

func zoneEgress(addr string, port int) schema.Resource {
	eg := schema.Resource{Type: schema.TypeZoneEgress, Name: "egress", Spec: &schema.ZoneEgressSpec{}}
	eg.ZoneEgressSpec().Networking.Address, eg.ZoneEgressSpec().Networking.Port = addr, port
	return eg
}

func clusterOf(t *testing.T, p *Planner, k ProxyKey, name string) (*ClusterPlan, *ProxyPlan) {
	t.Helper()
	pl, err := p.Plan(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pl.Clusters {
		if c.Name == name {
			return c, pl
		}
	}
	return nil, pl
}

func TestExternalServiceClusters(t *testing.T) {
	cases := []struct {
		name       string
		mtls, zeg  bool
		egress     bool // a ZoneEgress registered in the zone
		es         schema.Resource
		want       []Endpoint
		wantMTLS   bool
		wantTarget ExternalTarget
		warn       bool
	}{
		{name: "direct by IP", mtls: true, es: externalService("default", "httpbin", "192.0.2.7:8080", false, ""),
			want:       []Endpoint{{Address: "192.0.2.7", Port: 8080, Weight: 1, Locality: "zone-a"}},
			wantTarget: ExternalTarget{Host: "192.0.2.7", Port: 8080}},
		{name: "direct by name with TLS", es: externalService("default", "httpbin", "httpbin.org:443", true, ""),
			want:       []Endpoint{{Address: "httpbin.org", Port: 443, Weight: 1, Locality: "zone-a"}},
			wantTarget: ExternalTarget{Host: "httpbin.org", Port: 443, TLS: true}},
		{name: "through the egress", mtls: true, zeg: true, egress: true, es: externalService("default", "httpbin", "httpbin.org:443", true, "api.example.com"),
			want: []Endpoint{{Address: "127.0.0.1", Port: 10002, Weight: 1, Locality: "zone-a"}}, wantMTLS: true,
			wantTarget: ExternalTarget{Host: "httpbin.org", Port: 443, TLS: true, ServerName: "api.example.com", ViaEgress: true}},
		{name: "zoneEgress without an egress: unreachable", mtls: true, zeg: true, es: externalService("default", "httpbin", "192.0.2.7:8080", false, ""),
			wantMTLS: true, wantTarget: ExternalTarget{Host: "192.0.2.7", Port: 8080, ViaEgress: true}, warn: true},
		{name: "zoneEgress without mTLS: unreachable", zeg: true, egress: true, es: externalService("default", "httpbin", "192.0.2.7:8080", false, ""),
			wantTarget: ExternalTarget{Host: "192.0.2.7", Port: 8080, ViaEgress: true}, warn: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mesh("default", tc.mtls, true)
			m.MeshSpec().Routing.ZoneEgress = tc.zeg
			p := NewPlanner("zone-a")
			p.SetBundle(bundle(m, tc.es))
			if tc.egress {
				p.SetZoneEgresses([]schema.Resource{zoneEgress("127.0.0.1", 10002)})
			}
			web := ProxyKey{Mesh: "default", Name: "web"}
			if _, err := p.UpsertDataplane(dataplane("default", "web", "10.0.1.1", []schema.Inbound{inb(8080, schema.TagService, "web")}, outb(9000, "httpbin"))); err != nil {
				t.Fatal(err)
			}
			c, pl := clusterOf(t, p, web, "httpbin")
			if c == nil {
				t.Fatalf("no cluster httpbin in %+v", pl.Clusters)
			}
			if c.External == nil || *c.External != tc.wantTarget {
				t.Fatalf("external target %+v, want %+v", c.External, tc.wantTarget)
			}
			if !slices.Equal(c.Endpoints.Endpoints, tc.want) {
				t.Fatalf("endpoints %+v, want %+v", c.Endpoints.Endpoints, tc.want)
			}
			if c.MTLS != tc.wantMTLS || c.Protocol != ProtocolHTTP || c.LocalityAware {
				t.Fatalf("cluster mtls=%v protocol=%s localityAware=%v", c.MTLS, c.Protocol, c.LocalityAware)
			}
			if tc.wantMTLS && (c.SNI != SNI("default", "httpbin", nil) || c.SPIFFE != "spiffe://default/httpbin") {
				t.Fatalf("through the egress the cluster must name the external service: sni %q spiffe %q", c.SNI, c.SPIFFE)
			}
			if got := len(pl.Warnings) > 0; got != tc.warn {
				t.Fatalf("warnings %q, want some: %v", pl.Warnings, tc.warn)
			}
			if len(pl.Outbounds) != 1 || pl.Outbounds[0].Protocol != ProtocolHTTP {
				t.Fatalf("outbounds %+v", pl.Outbounds)
			}
		})
	}
}

func TestEgressServesExternalServicesWithPermissions(t *testing.T) {
	m := mesh("default", true, false)
	m.MeshSpec().Routing.ZoneEgress = true
	allowWeb := pol(schema.TypeMeshTrafficPermission, "default", "web-to-httpbin", schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "httpbin"},
		From: []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "web"},
			Default: map[string]any{"action": ActionAllow}}},
	})
	p := NewPlanner("zone-a")
	p.SetBundle(bundle(m, allowWeb, externalService("default", "httpbin", "httpbin.org:443", true, "")))
	eg := zoneEgress("127.0.0.1", 10002)
	p.SetZoneEgresses([]schema.Resource{eg})
	pl, err := p.EgressPlan(eg)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Routes) != 0 || len(pl.External) != 1 {
		t.Fatalf("egress plan: routes %+v external %+v", pl.Routes, pl.External)
	}
	e := pl.External[0]
	if e.SNI != SNI("default", "httpbin", nil) || e.Target.Host != "httpbin.org" || !e.Target.TLS || e.Target.SNIName() != "httpbin.org" {
		t.Fatalf("external entry %+v", e)
	}
	if es := e.Endpoints; !es.Hostnames || len(es.Endpoints) != 1 || es.Endpoints[0].Port != 443 {
		t.Fatalf("egress endpoints %+v", es)
	}
	if ok, _ := e.Permissions.Verdict("web", nil); !ok {
		t.Fatal("web is allowed by web-to-httpbin")
	}
	if ok, _ := e.Permissions.Verdict("other", nil); ok {
		t.Fatal("a service no MeshTrafficPermission allows must be denied at the egress")
	}
	if ids := pl.ExternalIdentities(); !slices.Equal(ids["default"], []string{"httpbin"}) {
		t.Fatalf("identities %v", ids)
	}
	// Without zoneEgress the egress serves nothing of the mesh.
	m2 := mesh("default", true, false)
	p.SetBundle(bundle(m2, externalService("default", "httpbin", "httpbin.org:443", true, "")))
	if pl, _ := p.EgressPlan(eg); len(pl.External) != 0 {
		t.Fatalf("mesh without zoneEgress: egress external %+v", pl.External)
	}
}

func TestExternalServiceChangesReplanUsers(t *testing.T) {
	m := mesh("default", true, false)
	m.MeshSpec().Routing.ZoneEgress = true
	p := NewPlanner("zone-a")
	p.SetBundle(bundle(m, externalService("default", "httpbin", "192.0.2.7:8080", false, "")))
	web := ProxyKey{Mesh: "default", Name: "web"}
	other := ProxyKey{Mesh: "default", Name: "other"}
	p.UpsertDataplane(dataplane("default", "web", "10.0.1.1", []schema.Inbound{inb(8080, schema.TagService, "web")}, outb(9000, "httpbin")))
	p.UpsertDataplane(dataplane("default", "other", "10.0.1.2", []schema.Inbound{inb(8080, schema.TagService, "other")}))
	for _, k := range []ProxyKey{web, other} {
		if _, err := p.Plan(k); err != nil {
			t.Fatal(err)
		}
	}
	// The egress arriving re-plans the proxy that calls httpbin, only it.
	if ks := p.SetZoneEgresses([]schema.Resource{zoneEgress("127.0.0.1", 10002)}); !slices.Equal(ks, []ProxyKey{web}) {
		t.Fatalf("egress arrival affected %v, want [web]", ks)
	}
	if c, _ := clusterOf(t, p, web, "httpbin"); len(c.Endpoints.Endpoints) != 1 || c.Endpoints.Endpoints[0].Port != 10002 {
		t.Fatalf("after the egress: %+v", c.Endpoints.Endpoints)
	}
	// A new address for httpbin changes web's cluster (seen by the egress, not the sidecar's endpoints).
	p.SetBundle(bundle(m, externalService("default", "httpbin", "192.0.2.8:9090", false, "")))
	c, _ := clusterOf(t, p, web, "httpbin")
	if c.External.Host != "192.0.2.8" || c.External.Port != 9090 {
		t.Fatalf("after the address change: %+v", c.External)
	}
	// Removing the ExternalService leaves web with no endpoint for httpbin.
	m2 := mesh("default", true, false)
	p.SetBundle(bundle(m2))
	c, pl := clusterOf(t, p, web, "httpbin")
	if c == nil || c.External != nil || len(c.Endpoints.Endpoints) != 0 || len(pl.Warnings) == 0 {
		t.Fatalf("after removal: cluster %+v warnings %q", c, pl.Warnings)
	}
}

func TestExternalServiceByVIP(t *testing.T) {
	p := NewPlanner("zone-a")
	b := bundle(mesh("default", true, false), externalService("default", "httpbin", "192.0.2.7:8080", false, ""))
	p.SetBundle(b)
	ms, errs := ZoneServices(b, nil, nil)
	if errs.HasErrors() || len(ms) != 1 {
		t.Fatalf("zone services %v %v", ms, errs)
	}
	vips := VIPOutbounds(ms[0], MeshVIPs{Services: map[string]netip.Addr{"httpbin": netip.MustParseAddr("240.0.0.5")}})
	p.SetVIPs(map[string][]VIPListener{"default": vips})
	web := ProxyKey{Mesh: "default", Name: "web"}
	p.UpsertDataplane(dataplane("default", "web", "10.0.1.1", []schema.Inbound{inb(8080, schema.TagService, "web")}))
	c, pl := clusterOf(t, p, web, "httpbin")
	if c == nil || c.External == nil || len(c.Endpoints.Endpoints) != 1 || c.Endpoints.Endpoints[0].Address != "192.0.2.7" {
		t.Fatalf("httpbin by VIP: cluster %+v", c)
	}
	var ports []int
	for _, o := range pl.Outbounds {
		if o.Service == "httpbin" {
			ports = append(ports, o.Port)
		}
	}
	if !slices.Equal(ports, []int{80, 8080}) {
		t.Fatalf("httpbin VIP outbounds on ports %v, want [80 8080]", ports)
	}
}
