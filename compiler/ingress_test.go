package compiler

import (
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

func ingressRes(name, addr string, port int) schema.Resource {
	s := &schema.ZoneIngressSpec{Zone: "zone-b"}
	s.Networking.Address, s.Networking.Port = addr, port
	return schema.Resource{Type: schema.TypeZoneIngress, Name: name, Spec: s}
}

// zoneSplit routes backend 90/10 between zone-a and zone-b instances.
func zoneSplit(mesh string) schema.Resource {
	return pol(schema.TypeMeshHTTPRoute, mesh, "backend-by-zone", schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMesh},
		To: []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "backend"}, Rules: []schema.RouteRule{{
			Default: schema.RouteDefault{BackendRefs: []schema.BackendRef{
				{Kind: schema.KindMeshServiceSubset, Name: "backend", Tags: map[string]string{schema.TagZone: "zone-a"}, Weight: 90},
				{Kind: schema.KindMeshServiceSubset, Name: "backend", Tags: map[string]string{schema.TagZone: "zone-b"}, Weight: 10},
			}},
		}}}},
	})
}

func TestIngressPlanRoutesBySNIToLocalInstances(t *testing.T) {
	p := NewPlanner("zone-b")
	p.SetBundle(bundle(mesh("default", true, false), mesh("plain", false, false), zoneSplit("default")))
	for _, dp := range []schema.Resource{
		dataplane("default", "backend-1", "10.0.0.1", []schema.Inbound{inb(8080, schema.TagService, "backend", schema.TagProtocol, "http", schema.TagZone, "zone-b")}),
		dataplane("default", "backend-2", "10.0.0.2", []schema.Inbound{inb(8080, schema.TagService, "backend", schema.TagProtocol, "http", schema.TagZone, "zone-b")}),
		dataplane("plain", "db-1", "10.0.0.3", []schema.Inbound{inb(5432, schema.TagService, "db", schema.TagZone, "zone-b")}),
	} {
		if _, err := p.UpsertDataplane(dp); err != nil {
			t.Fatal(err)
		}
	}
	pl, err := p.IngressPlan(ingressRes("ingress", "127.0.0.1", 10001))
	if err != nil {
		t.Fatal(err)
	}
	if pl.NodeID != "_zone-ingress.ingress" || pl.Port != 10001 {
		t.Fatalf("node %q port %d", pl.NodeID, pl.Port)
	}
	whole := SNI("default", "backend", nil)
	zoneB := SNI("default", "backend", map[string]string{schema.TagZone: "zone-b"})
	got := map[string]int{}
	for _, r := range pl.Routes {
		got[r.SNI] = len(r.Endpoints.Endpoints)
	}
	// The whole service and the zone-b subset (local instances carry it); the
	// zone-a subset has no local instance; mesh "plain" has no mTLS.
	if len(got) != 2 || got[whole] != 2 || got[zoneB] != 2 {
		t.Fatalf("routes %v, want %s and %s with 2 endpoints each", got, whole, zoneB)
	}
	if len(pl.Warnings) != 1 || !strings.Contains(pl.Warnings[0], `mesh "plain" has no mTLS`) {
		t.Fatalf("warnings %q", pl.Warnings)
	}
	// Deregistering an instance changes the plan.
	before := pl.Hash
	p.DeleteDataplane(ProxyKey{Mesh: "default", Name: "backend-2"})
	pl, _ = p.IngressPlan(ingressRes("ingress", "127.0.0.1", 10001))
	if pl.Hash == before || len(pl.Routes[0].Endpoints.Endpoints) != 1 {
		t.Fatalf("plan after a removal: %+v", pl.Routes[0].Endpoints)
	}
}

func remoteIngress(zone, addr string, port int, avail ...schema.AvailableService) schema.Resource {
	s := &schema.ZoneIngressSpec{Zone: zone, AvailableServices: avail}
	s.Networking.Address, s.Networking.Port = addr, port
	return schema.Resource{Type: schema.TypeZoneIngress, Name: zone + "-ingress", Spec: s}
}

func TestRemoteZonesWeightsLocalityAndZoneSubsets(t *testing.T) {
	avail := schema.AvailableService{Mesh: "default", Instances: 2,
		Tags: map[string]string{schema.TagService: "backend", schema.TagProtocol: "http", schema.TagZone: "zone-b"}}
	web := dataplane("default", "web", "10.0.1.1", []schema.Inbound{inb(8080, schema.TagService, "web", schema.TagZone, "zone-a")}, outb(9000, "backend"))
	local := dataplane("default", "backend-a", "10.0.1.2", []schema.Inbound{inb(8080, schema.TagService, "backend", schema.TagProtocol, "http", schema.TagZone, "zone-a")})
	for _, tc := range []struct {
		name     string
		la, mtls bool
		prio     int
		remote   bool
	}{
		{"flat", false, true, 0, true},
		{"locality aware", true, true, 1, true},
		{"no mTLS", false, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plans := mustPlan(t, PlanInput{Zone: "zone-a", Bundle: bundle(mesh("default", tc.mtls, tc.la), zoneSplit("default")),
				Dataplanes: []schema.Resource{web, local}, ZoneIngresses: []schema.Resource{remoteIngress("zone-b", "192.0.2.1", 10001, avail)}})
			pl := plans[ProxyKey{Mesh: "default", Name: "web"}]
			byName := map[string]*ClusterPlan{}
			for _, c := range pl.Clusters {
				byName[c.Name] = c
			}
			zb := byName[ClusterName("backend", map[string]string{schema.TagZone: "zone-b"})]
			za := byName[ClusterName("backend", map[string]string{schema.TagZone: "zone-a"})]
			if zb == nil || za == nil {
				t.Fatalf("clusters %v: want both zone subsets", pl.Clusters)
			}
			if len(za.Endpoints.Endpoints) != 1 || za.Endpoints.Endpoints[0].Address != "10.0.1.2" {
				t.Fatalf("zone-a subset endpoints %+v", za.Endpoints.Endpoints)
			}
			if !tc.remote {
				if len(zb.Endpoints.Endpoints) != 0 {
					t.Fatalf("without mTLS zone-b must not be routed: %+v", zb.Endpoints.Endpoints)
				}
				return
			}
			e := zb.Endpoints.Endpoints
			if len(e) != 1 || e[0].Address != "192.0.2.1" || e[0].Weight != 2 || e[0].Locality != "zone-b" || !e[0].Ingress || e[0].Priority != 0 {
				t.Fatalf("zone-b subset endpoints %+v", e)
			}
			if zb.SNI != SNI("default", "backend", map[string]string{schema.TagZone: "zone-b"}) {
				t.Fatalf("SNI %s", zb.SNI)
			}
			// The whole-service cluster is not used by the route (both arms are
			// subsets); build it through an explicit subset-less look-up.
			all := (&svcInfo{local: []instance{{address: "10.0.1.2", port: 8080, tags: map[string]string{schema.TagZone: "zone-a"}}},
				remote: []remoteEntry{{zone: "zone-b", address: "192.0.2.1", port: 10001, tags: avail.Tags, instances: 2}}}).endpoints("zone-a", nil, true, tc.la, nil)
			if len(all.Endpoints) != 2 || all.Endpoints[1].Priority != tc.prio || all.Endpoints[1].Weight != 2 || all.Endpoints[0].Weight != 1 {
				t.Fatalf("whole service endpoints %+v", all.Endpoints)
			}
		})
	}
}
