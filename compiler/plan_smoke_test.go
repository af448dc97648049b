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
