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
		{"MeshSubset source by zone: deny zone-b, allow the rest", true, []schema.Resource{
			mtp("p", backend, from(ref(schema.KindMeshSubset, "", "kuma.io/zone", "zone-b"), "Deny"), from(meshRef, "Allow")),
		}, []client{{"web", []string{"kuma.io/zone", "zone-b"}, false}, {"web", []string{"kuma.io/zone", "zone-a"}, true}}},
		{"a subset deny keeps the rest of the service allowed", true, []schema.Resource{
			mtp("p", backend, from(web, "Allow"), from(ref(schema.KindMeshServiceSubset, "web", "version", "v1"), "Deny")),
		}, []client{{"web", []string{"version", "v1"}, false}, {"web", []string{"version", "v2"}, true}}},
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

// TestPermissionSources: subset sources reach the back end as the SPIFFE id
// (service) AND every other tag, each of which a certificate proves with a
// kuma://<tag>/<value> URI SAN.
func TestPermissionSources(t *testing.T) {
	cases := []struct {
		name string
		from schema.TargetRef
		want Source
	}{
		{"Mesh", ref(schema.KindMesh, ""), Source{Any: true}},
		{"MeshService", ref(schema.KindMeshService, "web"), Source{Service: "web"}},
		{"MeshServiceSubset", ref(schema.KindMeshServiceSubset, "web", "version", "v2"), Source{Service: "web", Tags: map[string]string{"version": "v2"}}},
		{"MeshSubset by zone", ref(schema.KindMeshSubset, "", "kuma.io/zone", "zone-b"), Source{Tags: map[string]string{"kuma.io/zone": "zone-b"}}},
		{"MeshSubset without tags", ref(schema.KindMeshSubset, ""), Source{Any: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bundle(mesh("default", true, false), mtp("p", ref(schema.KindMeshService, "backend"), from(c.from, "Allow")))
			plans := mustPlan(t, PlanInput{Bundle: b, Zone: "z1", Dataplanes: []schema.Resource{
				dataplane("default", "backend-1", "10.0.0.1", []schema.Inbound{inb(80, schema.TagService, "backend")}),
			}})
			rules := plans[ProxyKey{"default", "backend-1"}].Inbounds[0].Permissions.Rules
			if len(rules) != 1 || hashJSON(rules[0].Source) != hashJSON(c.want) {
				t.Errorf("rules = %+v, want one with source %+v", rules, c.want)
			}
		})
	}
}
