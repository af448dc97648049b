package compiler

import (
	"testing"

	"github.com/meshc/meshc/schema"
)

func TestZoneEgressCarriesCrossZoneTraffic(t *testing.T) {
	m := mesh("default", true, false)
	m.MeshSpec().Routing.ZoneEgress = true
	p := NewPlanner("zone-a")
	p.SetBundle(bundle(m))
	p.SetZoneIngresses([]schema.Resource{remoteIngress("zone-b", "192.0.2.1", 10001, schema.AvailableService{
		Mesh: "default", Instances: 2, Tags: map[string]string{schema.TagService: "backend", schema.TagProtocol: "http"}})})
	web := ProxyKey{Mesh: "default", Name: "web"}
	if _, err := p.UpsertDataplane(dataplane("default", "web", "10.0.1.1", []schema.Inbound{inb(8080, schema.TagService, "web")}, outb(9000, "backend"))); err != nil {
		t.Fatal(err)
	}
	backend := func() []Endpoint {
		pl, err := p.Plan(web)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range pl.Clusters {
			if c.Name == "backend" {
				return c.Endpoints.Endpoints
			}
		}
		return nil
	}
	if es := backend(); len(es) != 0 {
		t.Fatalf("zoneEgress without an egress in the zone must not reach zone-b directly: %+v", es)
	}
	eg := schema.Resource{Type: schema.TypeZoneEgress, Name: "egress", Spec: &schema.ZoneEgressSpec{}}
	eg.ZoneEgressSpec().Networking.Address, eg.ZoneEgressSpec().Networking.Port = "127.0.0.1", 10002
	if ks := p.SetZoneEgresses([]schema.Resource{eg}); len(ks) != 1 || ks[0] != web {
		t.Fatalf("affected %v, want web", ks)
	}
	if es := backend(); len(es) != 1 || es[0].Address != "127.0.0.1" || es[0].Port != 10002 || es[0].Weight != 2 || es[0].Locality != "zone-b" {
		t.Fatalf("through the egress: %+v", es)
	}
	pl, err := p.EgressPlan(eg)
	if err != nil {
		t.Fatal(err)
	}
	if pl.NodeID != "_zone-egress.egress" || len(pl.Routes) != 1 || pl.Routes[0].SNI != SNI("default", "backend", nil) {
		t.Fatalf("egress plan %+v", pl)
	}
	if e := pl.Routes[0].Endpoints.Endpoints; len(e) != 1 || e[0].Address != "192.0.2.1" || e[0].Port != 10001 || e[0].Weight != 2 {
		t.Fatalf("egress forwards to zone-b's ingress: %+v", e)
	}
}
