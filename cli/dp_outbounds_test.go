package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/dns"
	"github.com/meshc/meshc/schema"
)

// TestPrintOutbounds: what `meshc dp run` prints comes from the Dataplane's
// explicit outbounds and the zone's VIP listeners (a real dns.Discovery serving
// GET /meshes/{mesh}/vips).
func TestPrintOutbounds(t *testing.T) {
	alloc, err := dns.NewAllocator(dns.AllocatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d := &dns.Discovery{Alloc: alloc}
	mux := http.NewServeMux()
	d.RegisterAPI(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b := &compiler.Bundle{Resources: []schema.Resource{{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{}}}}
	d.Update(b, []schema.Resource{{Type: schema.TypeDataplane, Mesh: "default", Name: "b1", Spec: &schema.DataplaneSpec{
		Networking: schema.DataplaneNetworking{Address: "127.0.0.1", Inbound: []schema.Inbound{{Port: 8080, Tags: map[string]string{schema.TagService: "backend"}}}}}}}, nil)
	vip := alloc.VIPs()["default"].Services["backend"].String()

	cp, _ := url.Parse(srv.URL)
	s := &dpSpec{mesh: "default", name: "web-1", cp: cp, body: []byte(`
type: Dataplane
mesh: default
name: web-1
networking:
  address: 127.0.0.1
  outbound:
    - port: 10001
      tags: {kuma.io/service: backend}
`)}
	var out bytes.Buffer
	printOutbounds(context.Background(), &out, s)
	for _, want := range []string{"127.0.0.1:10001", vip + ":80", vip + ":8080", "VIP backend.mesh", "explicit", "ip addr add"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	s.mesh = "other"
	printOutbounds(context.Background(), &out, s)
	if strings.Contains(out.String(), "VIP ") {
		t.Errorf("a mesh without services printed VIPs:\n%s", out.String())
	}
	// a zone without DNS (no /vips route) says how to get VIPs
	out.Reset()
	nodns := httptest.NewServer(http.NotFoundHandler())
	defer nodns.Close()
	s.cp, _ = url.Parse(nodns.URL)
	printOutbounds(context.Background(), &out, s)
	if !strings.Contains(out.String(), "--dns-addr") {
		t.Errorf("want a hint about --dns-addr:\n%s", out.String())
	}
}
