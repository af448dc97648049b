package compiler

import (
	"testing"

	"github.com/meshc/meshc/schema"
)

// fixture helpers shared by the plan tests.

func mesh(name string, mtls, la bool) schema.Resource {
	s := &schema.MeshSpec{}
	if mtls {
		s.MTLS = &schema.MTLS{EnabledBackend: "ca", Backends: []schema.MTLSBackend{{Name: "ca", Type: "builtin"}}}
	}
	s.Routing.LocalityAwareLoadBalancing = la
	return schema.Resource{Type: schema.TypeMesh, Name: name, Spec: s}
}

func pol(kind, mesh, name string, spec schema.PolicySpec) schema.Resource {
	return schema.Resource{Type: kind, Mesh: mesh, Name: name, Spec: &schema.PolicyBody{Spec: spec}}
}

func dataplane(mesh, name, addr string, inbounds []schema.Inbound, outbounds ...schema.Outbound) schema.Resource {
	return schema.Resource{Type: schema.TypeDataplane, Mesh: mesh, Name: name, Spec: &schema.DataplaneSpec{
		Networking: schema.DataplaneNetworking{Address: addr, Inbound: inbounds, Outbound: outbounds},
	}}
}

func inb(port int, tags ...string) schema.Inbound {
	t := map[string]string{}
	for i := 0; i+1 < len(tags); i += 2 {
		t[tags[i]] = tags[i+1]
	}
	return schema.Inbound{Port: port, Tags: t}
}

func outb(port int, svc string) schema.Outbound {
	return schema.Outbound{Port: port, Tags: map[string]string{schema.TagService: svc}}
}

func bundle(rs ...schema.Resource) *Bundle {
	schema.SortResources(rs)
	return &Bundle{Version: "test", Resources: rs}
}

func mustPlan(t *testing.T, in PlanInput) map[ProxyKey]*ProxyPlan {
	t.Helper()
	out, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
