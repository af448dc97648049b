package compiler

import (
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

func TestPlanSmoke(t *testing.T) {
	b := bundle(mesh("default", true, false))
	plans := mustPlan(t, PlanInput{Bundle: b, Zone: "zone-a", Dataplanes: []schema.Resource{
		dataplane("default", "web-1", "10.0.0.1", []schema.Inbound{inb(8080, schema.TagService, "web", schema.TagZone, "zone-a")}, outb(10001, "backend")),
		dataplane("default", "backend-1", "10.0.0.2", []schema.Inbound{inb(9090, schema.TagService, "backend", schema.TagZone, "zone-a")}),
	}})
	web := plans[ProxyKey{"default", "web-1"}]
	if len(web.Outbounds) != 1 || len(web.Clusters) != 1 || len(web.Clusters[0].Endpoints.Endpoints) != 1 {
		t.Fatalf("web plan: %+v", web)
	}
	if allow, _ := web.Inbounds[0].Permissions.Verdict("backend", nil); allow {
		t.Fatal("mTLS mesh without MeshTrafficPermission must deny")
	}
}

// TestClashingPortsAreLeftOutWithAWarning: a dataplane whose outbound reuses an
// inbound's address and port keeps a valid plan; the clash is reported.
func TestClashingPortsAreLeftOutWithAWarning(t *testing.T) {
	b := bundle(mesh("default", false, false))
	dp := dataplane("default", "web-1", "127.0.0.1", []schema.Inbound{inb(8080, schema.TagService, "web")}, outb(8080, "backend"), outb(9000, "db"), outb(9000, "cache"))
	pl := mustPlan(t, PlanInput{Bundle: b, Zone: "z", Dataplanes: []schema.Resource{dp}})[ProxyKey{"default", "web-1"}]
	if len(pl.Inbounds) != 1 || len(pl.Outbounds) != 1 || pl.Outbounds[0].Service != "db" {
		t.Fatalf("inbounds %d outbounds %v", len(pl.Inbounds), pl.Outbounds)
	}
	n := 0
	for _, w := range pl.Warnings {
		if strings.Contains(w, "already listens there") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("warnings %q, want two clashes reported", pl.Warnings)
	}
}

// TestProxyWithoutItsMeshGetsNothing: before its Mesh is in the bundle a proxy
// gets no listeners (not an open, mTLS-less config); when the Mesh arrives it
// is reported as affected and gets its inbounds.
func TestProxyWithoutItsMeshGetsNothing(t *testing.T) {
	p := NewPlanner("z")
	p.SetBundle(bundle(mesh("other", true, false)))
	k := ProxyKey{"default", "web-1"}
	if _, err := p.UpsertDataplane(dataplane("default", "web-1", "10.0.0.1", []schema.Inbound{inb(80, schema.TagService, "web")}, outb(1001, "backend"))); err != nil {
		t.Fatal(err)
	}
	pl, _ := p.Plan(k)
	if len(pl.Inbounds) != 0 || len(pl.Outbounds) != 0 || len(pl.Warnings) != 1 {
		t.Fatalf("plan without mesh: %d inbounds, %d outbounds, warnings %q", len(pl.Inbounds), len(pl.Outbounds), pl.Warnings)
	}
	affected := p.SetBundle(bundle(mesh("other", true, false), mesh("default", true, false)))
	if len(affected) != 1 || affected[0] != k {
		t.Fatalf("affected %v, want %v", affected, k)
	}
	pl, _ = p.Plan(k)
	if len(pl.Inbounds) != 1 || len(pl.Outbounds) != 1 || !pl.MTLS {
		t.Fatalf("plan with mesh: %+v", pl)
	}
}
