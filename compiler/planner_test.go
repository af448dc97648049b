package compiler

import (
	"fmt"
	"testing"

	"github.com/meshc/meshc/schema"
)

// zoneState is the inputs of a planner, kept by the test to compute fresh plans.
type zoneState struct {
	bundle    *Bundle
	dps       map[ProxyKey]schema.Resource
	ingresses []schema.Resource
	vips      map[string][]VIPListener
}

func (z *zoneState) fresh(t *testing.T) map[ProxyKey]*ProxyPlan {
	var dps []schema.Resource
	for _, d := range z.dps {
		dps = append(dps, d)
	}
	return mustPlan(t, PlanInput{Bundle: z.bundle, Zone: "zone-a", Dataplanes: dps, ZoneIngresses: z.ingresses, VIPs: z.vips})
}

func basePolicies(extra ...schema.Resource) *Bundle {
	meshRef := ref(schema.KindMesh, "")
	rs := []schema.Resource{
		mesh("default", true, false), mesh("other", true, false),
		mtp("all", meshRef, from(meshRef, "Allow")),
		pol(schema.TypeMeshTimeout, "default", "t", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{to(meshRef, map[string]any{"connectionTimeout": "1s"})}}),
	}
	return bundle(append(rs, extra...)...)
}

func svcDP(mesh, name, svc, ip string, outs ...string) schema.Resource {
	var ob []schema.Outbound
	for i, o := range outs {
		ob = append(ob, outb(10000+i, o))
	}
	return dataplane(mesh, name, ip, []schema.Inbound{inb(8080, schema.TagService, svc, schema.TagProtocol, "http", schema.TagZone, "zone-a")}, ob...)
}

// TestPlannerIncremental applies changes one by one and checks, after each,
// that (1) every plan equals a from-scratch plan and (2) every proxy whose plan
// changed was reported as affected, and that the reported sets are tight.
func TestPlannerIncremental(t *testing.T) {
	z := &zoneState{bundle: basePolicies(), dps: map[ProxyKey]schema.Resource{}}
	p := NewPlanner("zone-a")
	p.SetBundle(z.bundle)
	for _, d := range []schema.Resource{
		svcDP("default", "web-1", "web", "10.0.0.1", "backend"),
		svcDP("default", "web-2", "web", "10.0.0.2", "backend"),
		svcDP("default", "backend-1", "backend", "10.0.0.3", "db"),
		svcDP("default", "db-1", "db", "10.0.0.4"),
		svcDP("default", "lonely-1", "lonely", "10.0.0.5"),
		svcDP("other", "web-1", "web", "10.1.0.1", "backend"),
		svcDP("other", "backend-1", "backend", "10.1.0.2"),
	} {
		z.dps[ProxyKey{d.Mesh, d.Name}] = d
		if _, err := p.UpsertDataplane(d); err != nil {
			t.Fatal(err)
		}
	}
	current := func() map[ProxyKey]string {
		out := map[ProxyKey]string{}
		for _, k := range p.Proxies() {
			pl, err := p.Plan(k)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = pl.Hash
		}
		return out
	}
	before := current()
	web := ref(schema.KindMeshService, "web")
	steps := []struct {
		name   string
		apply  func() []ProxyKey
		expect []string // affected proxies, "mesh.name"
	}{
		{"a backend instance joins: it and backend's callers", func() []ProxyKey {
			d := svcDP("default", "backend-2", "backend", "10.0.0.6", "db")
			z.dps[ProxyKey{"default", "backend-2"}] = d
			ks, _ := p.UpsertDataplane(d)
			return ks
		}, []string{"default.backend-2", "default.web-1", "default.web-2"}},
		{"a dataplane changes only its outbounds: only itself", func() []ProxyKey {
			d := svcDP("default", "lonely-1", "lonely", "10.0.0.5", "db")
			z.dps[ProxyKey{"default", "lonely-1"}] = d
			ks, _ := p.UpsertDataplane(d)
			return ks
		}, []string{"default.lonely-1"}},
		{"a policy for web changes: only web proxies of that mesh", func() []ProxyKey {
			z.bundle = basePolicies(pol(schema.TypeMeshRetry, "default", "r", schema.PolicySpec{TargetRef: web, To: []schema.PolicyItem{
				to(ref(schema.KindMesh, ""), map[string]any{"http": map[string]any{"numRetries": 2}})}}))
			return p.SetBundle(z.bundle)
		}, []string{"default.web-1", "default.web-2"}},
		{"a remote zone starts offering db: db's callers", func() []ProxyKey {
			z.ingresses = []schema.Resource{ingress("zone-b", avail(4, schema.TagService, "db", schema.TagProtocol, "http"))}
			return p.SetZoneIngresses(z.ingresses)
		}, []string{"default.backend-1", "default.backend-2", "default.lonely-1"}},
		{"db's only local instance leaves", func() []ProxyKey {
			delete(z.dps, ProxyKey{"default", "db-1"})
			return p.DeleteDataplane(ProxyKey{"default", "db-1"})
		}, []string{"default.backend-1", "default.backend-2", "default.db-1", "default.lonely-1"}},
		{"the Mesh resource changes: every proxy of that mesh", func() []ProxyKey {
			rs := append([]schema.Resource(nil), z.bundle.Resources...)
			for i := range rs {
				if rs[i].Type == schema.TypeMesh && rs[i].Name == "other" {
					rs[i] = mesh("other", false, false)
				}
			}
			z.bundle = bundle(rs...)
			return p.SetBundle(z.bundle)
		}, []string{"other.backend-1", "other.web-1"}},
		{"a mesh-wide policy for traffic to db: only db's callers", func() []ProxyKey {
			z.bundle = bundle(append(append([]schema.Resource(nil), z.bundle.Resources...),
				pol(schema.TypeMeshCircuitBreaker, "default", "cb-db", schema.PolicySpec{TargetRef: ref(schema.KindMesh, ""), To: []schema.PolicyItem{
					to(ref(schema.KindMeshService, "db"), map[string]any{"connectionLimits": map[string]any{"maxConnections": 5}})}}))...)
			return p.SetBundle(z.bundle)
		}, []string{"default.backend-1", "default.backend-2", "default.lonely-1"}},
		{"VIPs appear in a mesh: every proxy of that mesh", func() []ProxyKey {
			z.vips = map[string][]VIPListener{"default": {
				{Address: "240.0.0.1", Port: 80, Service: "backend", Host: "backend.mesh"},
				{Address: "240.0.0.2", Port: 80, Service: "db", Host: "db.mesh"},
			}}
			return p.SetVIPs(z.vips)
		}, []string{"default.backend-1", "default.backend-2", "default.lonely-1", "default.web-1", "default.web-2"}},
		{"with VIPs, a new instance of a VIP'd service touches every VIP proxy of the mesh", func() []ProxyKey {
			d := svcDP("default", "db-2", "db", "10.0.0.9")
			z.dps[ProxyKey{"default", "db-2"}] = d
			ks, _ := p.UpsertDataplane(d)
			return ks
		}, []string{"default.backend-1", "default.backend-2", "default.db-2", "default.lonely-1", "default.web-1", "default.web-2"}},
		{"with VIPs, a policy for traffic to db touches every VIP proxy it selects", func() []ProxyKey {
			z.bundle = bundle(append(append([]schema.Resource(nil), z.bundle.Resources...),
				pol(schema.TypeMeshHealthCheck, "default", "hc-db", schema.PolicySpec{TargetRef: ref(schema.KindMeshService, "web"), To: []schema.PolicyItem{
					to(ref(schema.KindMeshService, "db"), map[string]any{"interval": "3s"})}}))...)
			return p.SetBundle(z.bundle)
		}, []string{"default.web-1", "default.web-2"}},
		{"an unchanged bundle touches nothing", func() []ProxyKey {
			return p.SetBundle(z.bundle)
		}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ks := s.apply()
			got := map[string]bool{}
			for _, k := range ks {
				got[k.String()] = true
			}
			if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(s.expect) && !(len(got) == 0 && len(s.expect) == 0) {
				t.Errorf("affected = %v, want %v", sortedKeys(got), s.expect)
			}
			after := current()
			fresh := z.fresh(t)
			for k, h := range after {
				if fresh[k].Hash != h {
					t.Errorf("%s: incremental plan differs from a fresh one", k)
				}
				if before[k] != h && !got[k.String()] {
					t.Errorf("%s changed but was not reported as affected", k)
				}
			}
			before = after
		})
	}
}

// TestSharedParts: proxies with the same policies share outbound services,
// clusters and endpoint sets (one object, not a copy each).
func TestSharedParts(t *testing.T) {
	plans := mustPlan(t, PlanInput{Bundle: basePolicies(), Zone: "zone-a", Dataplanes: []schema.Resource{
		svcDP("default", "web-1", "web", "10.0.0.1", "backend"),
		svcDP("default", "web-2", "web", "10.0.0.2", "backend"),
		svcDP("default", "backend-1", "backend", "10.0.0.3"),
	}})
	a, b := plans[ProxyKey{"default", "web-1"}], plans[ProxyKey{"default", "web-2"}]
	if a.Outbounds[0].OutboundService != b.Outbounds[0].OutboundService || a.Clusters[0] != b.Clusters[0] || a.Clusters[0].Endpoints != b.Clusters[0].Endpoints {
		t.Error("web-1 and web-2 have identical outbounds but do not share them")
	}
}
