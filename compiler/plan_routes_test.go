package compiler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

func httpRoute(name string, target schema.TargetRef, svc string, rules ...schema.RouteRule) schema.Resource {
	return pol(schema.TypeMeshHTTPRoute, "default", name, schema.PolicySpec{TargetRef: target, To: []schema.PolicyItem{
		{TargetRef: ref(schema.KindMeshService, svc), Rules: rules},
	}})
}

func rule(m *schema.HTTPMatch, refs ...schema.BackendRef) schema.RouteRule {
	r := schema.RouteRule{Default: schema.RouteDefault{BackendRefs: refs}}
	if m != nil {
		r.Matches = []schema.HTTPMatch{*m}
	}
	return r
}

func path(typ, v string) *schema.HTTPMatch {
	return &schema.HTTPMatch{Path: &schema.PathMatch{Type: typ, Value: v}}
}

func subset(svc string, weight int, tags ...string) schema.BackendRef {
	r := schema.BackendRef{Kind: schema.KindMeshServiceSubset, Name: svc, Weight: weight, Tags: map[string]string{}}
	for i := 0; i+1 < len(tags); i += 2 {
		r.Tags[tags[i]] = tags[i+1]
	}
	return r
}

func ingress(zone string, avail ...schema.AvailableService) schema.Resource {
	zi := &schema.ZoneIngressSpec{Zone: zone, AvailableServices: avail}
	zi.Networking.Address, zi.Networking.Port = "10.9.0.1", 10001
	zi.Networking.AdvertisedAddress, zi.Networking.AdvertisedPort = "192.0.2.1", 20001
	return schema.Resource{Type: schema.TypeZoneIngress, Name: zone + "-ingress", Spec: zi}
}

func avail(n int, tags ...string) schema.AvailableService {
	t := map[string]string{}
	for i := 0; i+1 < len(tags); i += 2 {
		t[tags[i]] = tags[i+1]
	}
	return schema.AvailableService{Mesh: "default", Tags: t, Instances: n}
}

// describe renders routes as "match→cluster:weight,…" for comparison.
func describe(os *OutboundService) []string {
	var out []string
	for _, r := range os.Routes {
		m := "*"
		if r.Match != nil && r.Match.Path != nil {
			m = r.Match.Path.Type + ":" + r.Match.Path.Value
		}
		var arms []string
		for _, b := range r.Backends {
			arms = append(arms, fmt.Sprintf("%s:%d", b.Name, b.Weight))
		}
		out = append(out, m+"→"+strings.Join(arms, ","))
	}
	return out
}

func routeFixture(t *testing.T, mtls bool) map[ProxyKey]*ProxyPlan {
	meshRef := ref(schema.KindMesh, "")
	b := bundle(
		mesh("default", mtls, true),
		httpRoute("a-mesh", meshRef, "backend",
			rule(path("Exact", "/api/x"), subset("backend", 1, "version", "v1")),
			rule(path("PathPrefix", "/api"), subset("backend", 1, "version", "v1"))),
		httpRoute("web-split", ref(schema.KindMeshService, "web"), "backend",
			rule(path("PathPrefix", "/api"), subset("backend", 1, "version", "v2")),
			rule(nil, subset("backend", 80, "version", "v1"), subset("backend", 20, "version", "v2"), subset("backend", 0, schema.TagZone, "zone-b"))),
		httpRoute("db-http", meshRef, "db", rule(nil, subset("db", 1, "version", "v9"))),
		pol(schema.TypeMeshTCPRoute, "default", "db-zones", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			{TargetRef: ref(schema.KindMeshService, "db"), Rules: []schema.RouteRule{rule(nil, subset("db", 1, schema.TagZone, "zone-a"), subset("db", 1, schema.TagZone, "zone-b"))}},
		}}),
	)
	http := func(v string) []string {
		return []string{schema.TagService, "backend", schema.TagProtocol, "http", "version", v, schema.TagZone, "zone-a"}
	}
	return mustPlan(t, PlanInput{Bundle: b, Zone: "zone-a",
		Dataplanes: []schema.Resource{
			dataplane("default", "web-1", "10.0.0.1", []schema.Inbound{inb(80, schema.TagService, "web", schema.TagProtocol, "http")}, outb(1001, "backend"), outb(1002, "db")),
			dataplane("default", "backend-v1-a", "10.0.1.1", []schema.Inbound{inb(8080, http("v1")...)}),
			dataplane("default", "backend-v1-b", "10.0.1.2", []schema.Inbound{inb(8080, http("v1")...)}),
			dataplane("default", "backend-v2-a", "10.0.2.1", []schema.Inbound{inb(8080, http("v2")...)}),
			dataplane("default", "db-1", "10.0.3.1", []schema.Inbound{inb(5432, schema.TagService, "db", schema.TagZone, "zone-a")}),
		},
		ZoneIngresses: []schema.Resource{ingress("zone-b",
			avail(3, schema.TagService, "backend", schema.TagProtocol, "http", "version", "v1"),
			avail(2, schema.TagService, "db"))},
	})
}

func TestRoutesAndSubsets(t *testing.T) {
	plans := routeFixture(t, true)
	web := plans[ProxyKey{"default", "web-1"}]
	v1, v2 := ClusterName("backend", map[string]string{"version": "v1"}), ClusterName("backend", map[string]string{"version": "v2"})
	dbA, dbB := ClusterName("db", map[string]string{schema.TagZone: "zone-a"}), ClusterName("db", map[string]string{schema.TagZone: "zone-b"})

	got := describe(web.Outbounds[0].OutboundService)
	want := []string{
		"Exact:/api/x→" + v1 + ":1",     // from the Mesh-wide route, exact paths first
		"PathPrefix:/api→" + v2 + ":1",  // web-split replaced a-mesh's rule with the same match
		"*→" + v1 + ":80," + v2 + ":20", // weight-0 arm dropped
	}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("backend routes:\n got %v\nwant %v", got, want)
	}
	// db is tcp: the MeshHTTPRoute is ignored, the MeshTCPRoute splits by zone.
	if got := describe(web.Outbounds[1].OutboundService); strings.Join(got, "") != "*→"+dbA+":1,"+dbB+":1" {
		t.Errorf("db routes: %v", got)
	}
	if p := web.Outbounds[1].Protocol; p != ProtocolTCP {
		t.Errorf("db protocol %q", p)
	}

	byName := map[string]*ClusterPlan{}
	for _, c := range web.Clusters {
		byName[c.Name] = c
	}
	if len(byName) != 4 {
		t.Fatalf("clusters %v, want v1, v2, db zone-a, db zone-b", keysOf(byName))
	}
	c1 := byName[v1]
	if c1.SNI != "backend."+SubsetHash("backend", map[string]string{"version": "v1"})+".default.mesh" || c1.SPIFFE != "spiffe://default/backend" {
		t.Errorf("v1 SNI %q SPIFFE %q", c1.SNI, c1.SPIFFE)
	}
	if SubsetHash("backend", nil) == SubsetHash("backend", map[string]string{"version": "v1"}) || len(SubsetHash("backend", nil)) != 8 {
		t.Error("subset hashes must differ from the service's and be 8 hex digits")
	}
	eps := func(c *ClusterPlan) string {
		var s []string
		for _, e := range c.Endpoints.Endpoints {
			s = append(s, fmt.Sprintf("%s:%d w%d p%d %s", e.Address, e.Port, e.Weight, e.Priority, e.Locality))
		}
		return strings.Join(s, "; ")
	}
	// Local instances weigh 1; zone-b's ingress weighs its instance count and,
	// with locality awareness, is the failover priority.
	if got := eps(c1); got != "10.0.1.1:8080 w1 p0 zone-a; 10.0.1.2:8080 w1 p0 zone-a; 192.0.2.1:20001 w3 p1 zone-b" {
		t.Errorf("v1 endpoints: %s", got)
	}
	if got := eps(byName[v2]); got != "10.0.2.1:8080 w1 p0 zone-a" {
		t.Errorf("v2 endpoints: %s", got)
	}
	// A zone subset holds only that zone; with no local endpoint it is priority 0 (no gap).
	if got := eps(byName[dbB]); got != "192.0.2.1:20001 w2 p0 zone-b" {
		t.Errorf("db zone-b endpoints: %s", got)
	}
	if got := eps(byName[dbA]); got != "10.0.3.1:5432 w1 p0 zone-a" {
		t.Errorf("db zone-a endpoints: %s", got)
	}

	// Without mTLS, cross-zone traffic is not routed: no ingress endpoints.
	plain := routeFixture(t, false)[ProxyKey{"default", "web-1"}]
	for _, c := range plain.Clusters {
		for _, e := range c.Endpoints.Endpoints {
			if e.Ingress {
				t.Errorf("cluster %s has a remote endpoint in a mesh without mTLS", c.Name)
			}
		}
	}
}

func keysOf[V any](m map[string]V) []string { return sortedKeys(m) }
