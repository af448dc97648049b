package kds

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

// Three zones receive the bundle and the mesh CA, see each other's ingresses
// (never their own), follow a new bundle, and a zone's new service reaches
// the others; GET /zones shows each zone online with the bundle it applied.
func TestZonesSyncBundleCAAndIngresses(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	v1 := bundleOf([]string{"p1", "p2"})
	g.bundles.Set(v1)
	a := startZone(t, g, "zone-a", nil)
	b := startZone(t, g, "zone-b", nil)
	c := startZone(t, g, "zone-c", nil)
	for _, z := range []*testZone{a, b, c} {
		eventually(t, z.name+" applies v1", func() bool { return z.applied(v1) })
	}
	s, _ := a.sink.Last()
	if len(s.CAs) != 1 || s.CAs[0].Mesh != "default" {
		t.Fatalf("zone-a CAs = %+v, want one for mesh default", s.CAs)
	}
	ca, err := pki.ParseCA("default", s.CAs[0].CertPEM, s.CAs[0].KeyPEM)
	if err != nil {
		t.Fatalf("CA sent to zone: %v", err)
	}
	// The CA is the one persisted in the global's state dir: same for every zone.
	persisted, err := pki.LoadCA(g.stateD, "default")
	if err != nil || !persisted.Cert.Equal(ca.Cert) {
		t.Fatalf("zone's CA is not the global's persisted CA (err %v)", err)
	}
	sb, _ := b.sink.Last()
	if string(sb.CAs[0].CertPEM) != string(s.CAs[0].CertPEM) {
		t.Fatal("zones got different CAs for one mesh")
	}

	b.source.Set(ingress("ingress-1", map[string]int{"backend": 2}), dataplane("backend-1", "backend"), dataplane("backend-2", "backend"))
	for _, z := range []*testZone{a, c} {
		eventually(t, z.name+" sees zone-b's ingress", func() bool {
			return slices.Equal(z.remoteServices(), []string{"zone-b/backend=2"})
		})
	}
	if got := b.remoteServices(); len(got) != 0 {
		t.Fatalf("zone-b sees its own ingress: %v", got)
	}
	// A new service in zone-b appears in the others' view of its ingress.
	b.source.Set(ingress("ingress-1", map[string]int{"backend": 2, "web": 1}))
	eventually(t, "zone-c sees web in zone-b", func() bool {
		got := c.remoteServices()
		slices.Sort(got)
		return slices.Equal(got, []string{"zone-b/backend=2", "zone-b/web=1"})
	})

	v2 := bundleOf([]string{"p1", "p3"})
	g.bundles.Set(v2)
	for _, z := range []*testZone{a, b, c} {
		eventually(t, z.name+" applies v2", func() bool { return z.applied(v2) })
	}
	s, _ = a.sink.Last()
	if s.Bundle.Find(schema.Key{Type: schema.TypeMeshTimeout, Mesh: "default", Name: "p2"}) != nil {
		t.Fatal("p2 removed at the global is still at zone-a")
	}
	eventually(t, "GET /zones shows v2 applied everywhere", func() bool {
		zs := g.zones(t)
		for _, n := range []string{"zone-a", "zone-b", "zone-c"} {
			z := zs[n]
			if !z.Online || !z.Enabled || z.BundleVersion != v2.Version || !z.InSync || z.ConnectedAt == nil || z.AgentVersion != "test-1" {
				return false
			}
		}
		return zs["zone-b"].ZoneIngresses == 1 && zs["zone-b"].Insight != nil && zs["zone-b"].Insight.BundleVersion == v2.Version
	})
	var ing InventoryList
	g.getJSON(t, "/zone-ingresses", &ing)
	var r schema.Resource
	if ing.Total != 1 || ing.Items[0].Zone != "zone-b" {
		t.Fatalf("GET /zone-ingresses = %+v", ing)
	}
	if err := r.UnmarshalJSON(ing.Items[0].Resource); err != nil || r.ZoneIngressSpec().Zone != "zone-b" {
		t.Fatalf("GET /zone-ingresses item: %v %s", err, ing.Items[0].Resource)
	}
}

// A zone that was away gets the full state on reconnect, removals included,
// and a zone agent restarted without the global serves its persisted state.
func TestReconnectConvergesAndPersistedStateServes(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	v1 := bundleOf([]string{"p1", "p2"})
	g.bundles.Set(v1)
	a := startZone(t, g, "zone-a", nil)
	b := startZone(t, g, "zone-b", nil)
	b.source.Set(ingress("ingress-1", map[string]int{"backend": 1}))
	eventually(t, "zone-a sees zone-b's ingress", func() bool { return len(a.remoteServices()) == 1 })

	a.stop()
	eventually(t, "zone-a offline", func() bool { z := g.zones(t)["zone-a"]; return !z.Online && z.DisconnectedAt != nil })
	v2 := bundleOf([]string{"p1", "p3"})
	g.bundles.Set(v2)
	b.source.Set() // zone-b's ingress goes away while zone-a is apart
	eventually(t, "zone-b applies v2", func() bool { return b.applied(v2) })

	a.run(t, g, nil)
	eventually(t, "zone-a converges to v2 without zone-b's ingress", func() bool {
		return a.applied(v2) && len(a.remoteServices()) == 0
	})
	s, _ := a.sink.Last()
	if s.Bundle.Find(schema.Key{Type: schema.TypeMeshTimeout, Mesh: "default", Name: "p2"}) != nil {
		t.Fatal("p2, removed while zone-a was away, is still there after reconnect")
	}

	// Global gone; the zone agent restarts with a fresh sink: it serves v2 from its state dir.
	g.stop()
	a.stop()
	fresh := &testZone{name: "zone-a", sink: NewMemorySink(), source: NewMemorySource(), state: a.state}
	fresh.run(t, g, nil)
	if !fresh.applied(v2) {
		t.Fatal("restarted zone agent does not serve the persisted bundle")
	}
	s, _ = fresh.sink.Last()
	if len(s.CAs) != 1 {
		t.Fatalf("restarted zone agent lost the mesh CA: %+v", s.CAs)
	}
	eventually(t, "the client reports the global unreachable", func() bool {
		st := fresh.client.Status()
		return !st.Connected && st.LastError != "" && st.BundleVersion == v2.Version
	})
}

// A zone that cannot apply an update NACKs it: the global records the reason
// (GET /zones), the zone keeps the previous bundle, and the same update is
// not re-sent; the next bundle is applied and clears the NACK.
func TestNACKRecordedAndNotResent(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	v1 := bundleOf([]string{"p1"})
	g.bundles.Set(v1)
	a := startZone(t, g, "zone-a", nil)
	eventually(t, "v1 applied", func() bool { return a.applied(v1) })
	a.sink.Reject(func(s GlobalState) error {
		if s.Bundle.Find(schema.Key{Type: schema.TypeMeshTimeout, Mesh: "default", Name: "bad"}) != nil {
			return errTest("policy bad: connectionTimeout not supported by this zone")
		}
		return nil
	})
	bad := bundleOf([]string{"p1", "bad"})
	g.bundles.Set(bad)
	eventually(t, "NACK visible in GET /zones/zone-a", func() bool {
		var z ZoneStatus
		g.getJSON(t, "/zones/zone-a", &z)
		return z.LastNACK != nil && strings.Contains(z.LastNACK.Reason, "connectionTimeout not supported") &&
			z.LastNACK.BundleVersion == bad.Version && z.BundleVersion == v1.Version && !z.InSync
	})
	if !a.applied(v1) {
		t.Fatal("zone dropped v1 after rejecting an update")
	}
	reg := prometheus.NewRegistry()
	if err := g.srv.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	var exp strings.Builder
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&exp, mf)
	}
	for _, want := range []string{`meshc_kds_zone_nack{zone="zone-a"} 1`, `meshc_kds_zone_in_sync{zone="zone-a"} 0`, `meshc_kds_zone_online{zone="zone-a"} 1`, `meshc_kds_nacks_received_total 1`} {
		if !strings.Contains(exp.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, exp.String())
		}
	}
	sent := g.srv.BytesSent()
	time.Sleep(100 * time.Millisecond) // a NACK storm would show here; nothing else to wait on
	if d := g.srv.BytesSent() - sent; d != 0 {
		t.Fatalf("global re-sent %d bytes after a NACK with no change", d)
	}
	v3 := bundleOf([]string{"p1", "p4"})
	g.bundles.Set(v3)
	eventually(t, "v3 applied and NACK cleared", func() bool {
		z := g.zones(t)["zone-a"]
		return a.applied(v3) && z.LastNACK == nil && z.InSync
	})
}

type errTest string

func (e errTest) Error() string { return string(e) }

// A zone's invalid resource is NACKed by the global with the reason, and its
// earlier inventory stays.
func TestGlobalRejectsInvalidZoneResources(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	g.bundles.Set(bundleOf(nil))
	a := startZone(t, g, "zone-a", nil)
	a.source.Set(dataplane("web-1", "web"))
	eventually(t, "dataplane in inventory", func() bool { return g.zones(t)["zone-a"].Dataplanes == 1 })
	noMesh := dataplane("web-2", "web")
	noMesh.Mesh = ""
	a.source.Set(dataplane("web-1", "web"), noMesh)
	eventually(t, "NACK for the dataplane without a mesh", func() bool {
		z := g.zones(t)["zone-a"]
		return z.LastNACK != nil && z.LastNACK.Direction == "zone→global" && strings.Contains(z.LastNACK.Reason, "Dataplane") && strings.Contains(z.LastNACK.Reason, "needs a mesh")
	})
	var dps InventoryList
	g.getJSON(t, "/meshes/default/dataplanes", &dps)
	if dps.Total != 1 || dps.Items[0].Zone != "zone-a" {
		t.Fatalf("inventory after a rejected update = %+v, want web-1 only", dps)
	}
}

// A zone that connects before the global has a bundle keeps what it serves
// (its persisted bundle) until the global has one.
func TestNoBundleYetSendsNothing(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	a := startZone(t, g, "zone-a", nil)
	a.source.Set(dataplane("web-1", "web"))
	eventually(t, "zone-a online with its inventory", func() bool { z := g.zones(t)["zone-a"]; return z.Online && z.Dataplanes == 1 })
	if _, n := a.sink.Last(); n != 0 {
		t.Fatalf("zone got %d updates before the global had a bundle", n)
	}
	v1 := bundleOf([]string{"p1"})
	g.bundles.Set(v1)
	eventually(t, "v1 applied", func() bool { return a.applied(v1) })
}
