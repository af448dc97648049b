package compiler

import (
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
