package compiler

import (
	"testing"

	"github.com/meshc/meshc/schema"
)

func mtp(name string, target schema.TargetRef, from ...schema.PolicyItem) schema.Resource {
	return pol(schema.TypeMeshTrafficPermission, "default", name, schema.PolicySpec{TargetRef: target, From: from})
}

func from(t schema.TargetRef, action string) schema.PolicyItem {
	return schema.PolicyItem{TargetRef: t, Default: map[string]any{"action": action}}
}

func TestPermissions(t *testing.T) {
	meshRef := ref(schema.KindMesh, "")
	backend := ref(schema.KindMeshService, "backend")
	web := ref(schema.KindMeshService, "web")
	type client struct {
		svc   string
		tags  []string
		allow bool
	}
	cases := []struct {
		name     string
		mtls     bool
		policies []schema.Resource
		clients  []client
	}{
		{"mTLS without any permission denies (secure default)", true, nil,
			[]client{{"web", nil, false}, {"backend", nil, false}}},
		{"without mTLS nothing is enforced", false, nil,
			[]client{{"web", nil, true}}},
		{"mesh-wide allow", true, []schema.Resource{mtp("all", meshRef, from(meshRef, "Allow"))},
			[]client{{"web", nil, true}, {"other", nil, true}}},
		{"more specific target wins: mesh allows, backend's policy denies web", true, []schema.Resource{
			mtp("all", meshRef, from(meshRef, "Allow")),
			mtp("backend", backend, from(web, "Deny")),
		}, []client{{"web", nil, false}, {"other", nil, true}}},
		{"more specific target wins over name order: backend allows web, mesh denies all", true, []schema.Resource{
			mtp("a-backend", backend, from(web, "Allow")),
			mtp("z-all", meshRef, from(meshRef, "Deny")),
		}, []client{{"web", nil, true}, {"other", nil, false}}},
		{"same specificity: later name wins", true, []schema.Resource{
			mtp("a", backend, from(web, "Allow")),
			mtp("b", backend, from(web, "Deny")),
		}, []client{{"web", nil, false}}},
		{"within a policy the more specific source wins", true, []schema.Resource{
			mtp("p", backend, from(web, "Deny"), from(meshRef, "Allow")),
		}, []client{{"web", nil, false}, {"other", nil, true}}},
		{"MeshServiceSubset source matches tags", true, []schema.Resource{
			mtp("p", backend, from(ref(schema.KindMeshServiceSubset, "web", "version", "v2"), "Allow")),
		}, []client{{"web", []string{"version", "v2"}, true}, {"web", []string{"version", "v1"}, false}}},
		{"AllowWithShadowDeny allows", true, []schema.Resource{
			mtp("p", backend, from(web, "AllowWithShadowDeny")),
		}, []client{{"web", nil, true}}},
		{"a policy for another service does not apply", true, []schema.Resource{
			mtp("p", ref(schema.KindMeshService, "db"), from(meshRef, "Allow")),
		}, []client{{"web", nil, false}}},
		{"MeshSubset target selects by inbound tags", true, []schema.Resource{
			mtp("p", ref(schema.KindMeshSubset, "", "team", "pay"), from(meshRef, "Allow")),
		}, []client{{"web", nil, true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bundle(append([]schema.Resource{mesh("default", c.mtls, false)}, c.policies...)...)
			plans := mustPlan(t, PlanInput{Bundle: b, Zone: "z1", Dataplanes: []schema.Resource{
				dataplane("default", "backend-1", "10.0.0.1", []schema.Inbound{inb(80, schema.TagService, "backend", "team", "pay")}),
			}})
			perm := plans[ProxyKey{"default", "backend-1"}].Inbounds[0].Permissions
			if perm.Enforced != c.mtls {
				t.Errorf("enforced = %v, want %v", perm.Enforced, c.mtls)
			}
			for _, cl := range c.clients {
				tags := map[string]string{}
				for i := 0; i+1 < len(cl.tags); i += 2 {
					tags[cl.tags[i]] = cl.tags[i+1]
				}
				if got, by := perm.Verdict(cl.svc, tags); got != cl.allow {
					t.Errorf("client %s %v: allow = %v (by %q), want %v; rules %+v", cl.svc, tags, got, by, cl.allow, perm.Rules)
				}
			}
		})
	}
}
