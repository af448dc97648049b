package compiler

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

func TestServiceDNSNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		svc  string
		want []string
	}{
		{"backend", []string{"backend.mesh"}},
		{"Backend", []string{"backend.mesh"}},
		{"echo-server_echo-example_svc_1010", []string{"echo-server_echo-example_svc_1010.mesh", "echo-server.echo-example.svc.1010.mesh"}},
		{"a__b", []string{"a__b.mesh"}}, // '_'→'.' would make an empty label
		{"web/v1", nil},                 // not writable in DNS: VIP only
		{long, nil},                     // label over 63
		{long[:40] + "_" + long[:40], []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.mesh"}},
		{"-bad", nil},
	} {
		if got := ServiceDNSNames(tc.svc); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ServiceDNSNames(%q) = %q, want %q", tc.svc, got, tc.want)
		}
	}
}

func vo(name, host, port string, params []schema.VOParameter, match map[string]string) *schema.Resource {
	return &schema.Resource{Type: schema.TypeVirtualOutbound, Name: name, Mesh: "default",
		Source: schema.Source{Pos: schema.Pos{File: "vo.yaml", Line: 1}, Fields: map[string]schema.Pos{"conf.host": {File: "vo.yaml", Line: 7, Col: 9}}},
		Spec: &schema.VirtualOutboundSpec{
			Selectors: []schema.Selector{{Match: match}},
			Conf:      schema.VirtualOutboundConf{Host: host, Port: port, Parameters: params},
		}}
}

func TestRenderVirtualOutbounds(t *testing.T) {
	params := []schema.VOParameter{{Name: "service", TagKey: schema.TagService}, {Name: "port"}}
	instances := []map[string]string{
		{schema.TagService: "backend", "port": "8080", "version": "v1"},
		{schema.TagService: "backend", "port": "8080", "version": "v2"}, // same host:port: one entry
		{schema.TagService: "web", "port": "9090"},
		{schema.TagService: "db"}, // no port tag: nothing
	}
	got, warns := RenderVirtualOutbounds([]*schema.Resource{
		vo("by-port", "{{.service}}.{{.port}}.mesh", "{{.port}}", params, map[string]string{schema.TagService: "*"}),
		vo("bad", "{{.nope}}.mesh", "80", params, map[string]string{schema.TagService: "web"}),
		vo("unparsable", "{{.service", "80", params, map[string]string{schema.TagService: "*"}),
	}, instances)
	want := []VirtualHost{
		{Host: "backend.8080.mesh", Port: 8080, Service: "backend", Tags: map[string]string{"port": "8080"}, VirtualOutbound: "by-port"},
		{Host: "web.9090.mesh", Port: 9090, Service: "web", Tags: map[string]string{"port": "9090"}, VirtualOutbound: "by-port"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hosts:\n got %+v\nwant %+v", got, want)
	}
	if len(warns) != 2 {
		t.Fatalf("want 2 warnings (bad, unparsable), got %v", warns)
	}
	for _, w := range warns {
		if w.Severity != schema.SeverityWarning || w.Pos.String() != "vo.yaml:7:9" || !strings.Contains(w.Msg, "host template") {
			t.Errorf("warning %+v: want a host-template warning at vo.yaml:7:9", w)
		}
	}
}

func TestRenderVirtualOutboundsConflict(t *testing.T) {
	params := []schema.VOParameter{{Name: "port"}}
	got, warns := RenderVirtualOutbounds([]*schema.Resource{
		vo("a-first", "shared.mesh", "{{.port}}", params, map[string]string{"port": "*"}),
	}, []map[string]string{
		{schema.TagService: "zeta", "port": "80"},
		{schema.TagService: "alpha", "port": "80"},
	})
	if len(got) != 1 || got[0].Service != "alpha" {
		t.Errorf("want the first service by name (alpha) to keep shared.mesh:80, got %+v", got)
	}
	if len(warns) != 0 {
		t.Errorf("within one VirtualOutbound the tie is resolved silently; got %v", warns)
	}
	_, warns = RenderVirtualOutbounds([]*schema.Resource{
		vo("a", "shared.mesh", "80", nil, map[string]string{schema.TagService: "alpha"}),
		vo("b", "shared.mesh", "80", nil, map[string]string{schema.TagService: "zeta"}),
	}, []map[string]string{{schema.TagService: "zeta"}, {schema.TagService: "alpha"}})
	if len(warns) != 1 || !strings.Contains(warns[0].Msg, `already taken by service "alpha"`) {
		t.Errorf("want one warning naming the claimant, got %v", warns)
	}
}

func TestZoneServicesAndVIPOutbounds(t *testing.T) {
	b := &Bundle{Resources: []schema.Resource{
		{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{}},
		{Type: schema.TypeMesh, Name: "other", Spec: &schema.MeshSpec{}},
		*vo("vo", "{{.service}}.v.mesh", "7070", []schema.VOParameter{{Name: "service", TagKey: schema.TagService}}, map[string]string{schema.TagService: "backend"}),
		{Type: schema.TypeExternalService, Name: "httpbin", Mesh: "default", Spec: &schema.ExternalServiceSpec{
			Tags: map[string]string{schema.TagService: "httpbin"},
			Networking: struct {
				Address string `json:"address"`
				TLS     *struct {
					Enabled            bool   `json:"enabled"`
					ServerName         string `json:"serverName,omitempty"`
					AllowRenegotiation bool   `json:"allowRenegotiation,omitempty"`
				} `json:"tls,omitempty"`
			}{Address: "httpbin.org:443"}}},
	}}
	dp := func(mesh, name string, port int, svc string) schema.Resource {
		return schema.Resource{Type: schema.TypeDataplane, Mesh: mesh, Name: name, Spec: &schema.DataplaneSpec{
			Networking: schema.DataplaneNetworking{Address: "10.0.0.1", Inbound: []schema.Inbound{{Port: port, Tags: map[string]string{schema.TagService: svc}}}}}}
	}
	dps := []schema.Resource{dp("default", "b1", 8080, "backend"), dp("default", "b2", 8081, "backend"), dp("other", "x", 1, "x"), dp("nomesh", "y", 1, "y")}
	ing := []schema.Resource{{Type: schema.TypeZoneIngress, Name: "zone-b", Spec: &schema.ZoneIngressSpec{AvailableServices: []schema.AvailableService{
		{Mesh: "default", Tags: map[string]string{schema.TagService: "remote"}, Instances: 2},
	}}}}
	got, warns := ZoneServices(b, dps, ing)
	if len(warns) != 0 {
		t.Fatal(warns)
	}
	if len(got) != 2 || got[0].Mesh != "default" || got[1].Mesh != "other" {
		t.Fatalf("want meshes default, other: %+v", got)
	}
	wantSvcs := []ServiceEntry{{Name: "backend", Ports: []int{8080, 8081}}, {Name: "httpbin", Ports: []int{443}, External: true}, {Name: "remote"}}
	if !reflect.DeepEqual(got[0].Services, wantSvcs) {
		t.Errorf("services:\n got %+v\nwant %+v", got[0].Services, wantSvcs)
	}
	if len(got[0].VirtualHosts) != 1 || got[0].VirtualHosts[0].Host != "backend.v.mesh" {
		t.Errorf("virtual hosts: %+v", got[0].VirtualHosts)
	}
	a := netip.MustParseAddr
	vips := MeshVIPs{
		Services: map[string]netip.Addr{"backend": a("240.0.0.1"), "remote": a("240.0.0.3")}, // httpbin: no VIP (exhausted)
		Hosts:    map[string]netip.Addr{"backend.v.mesh": a("240.0.0.2")},
	}
	outs := VIPOutbounds(got[0], vips)
	var lines []string
	for _, o := range outs {
		lines = append(lines, fmt.Sprintf("%s:%d→%s %s", o.Address, o.Port, o.Service, o.Host))
	}
	want := []string{
		"240.0.0.1:80→backend backend.mesh", "240.0.0.1:8080→backend backend.mesh", "240.0.0.1:8081→backend backend.mesh",
		"240.0.0.2:7070→backend backend.v.mesh",
		"240.0.0.3:80→remote remote.mesh",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("outbounds:\n got %q\nwant %q", lines, want)
	}
}
