package store

import (
	"context"
	"testing"
	"time"

	"github.com/meshc/meshc/schema"
)

func dataplane(mesh, name, svc string) schema.Resource {
	return schema.Resource{Type: schema.TypeDataplane, Mesh: mesh, Name: name, Spec: &schema.DataplaneSpec{
		Networking: schema.DataplaneNetworking{Address: "127.0.0.1", Inbound: []schema.Inbound{
			{Port: 8080, Tags: map[string]string{schema.TagService: svc}},
		}},
	}}
}

func TestPutTagsZoneAndNotifies(t *testing.T) {
	t.Parallel()
	r := New("zone-a")
	w := r.Watch()
	defer w.Close()
	in := dataplane("default", "web-1", "web")
	changed, err := r.Put(in)
	if err != nil || !changed {
		t.Fatalf("Put: changed=%v err=%v", changed, err)
	}
	if _, ok := in.DataplaneSpec().Networking.Inbound[0].Tags[schema.TagZone]; ok {
		t.Error("Put modified the caller's resource")
	}
	e, ok := r.Get(schema.Key{Type: schema.TypeDataplane, Mesh: "default", Name: "web-1"})
	if !ok || e.Resource.DataplaneSpec().Networking.Inbound[0].Tags[schema.TagZone] != "zone-a" {
		t.Fatalf("stored dataplane lacks kuma.io/zone: %+v", e)
	}
	// An identical Put is no change and no notification.
	if changed, _ := r.Put(dataplane("default", "web-1", "web")); changed {
		t.Error("identical Put reported a change")
	}
	r.Put(dataplane("default", "backend-1", "backend"))
	r.Put(dataplane("other", "x", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	keys, err := w.Next(ctx)
	if err != nil || len(keys) != 3 {
		t.Fatalf("Next = %v, %v; want 3 coalesced keys", keys, err)
	}
	if got := r.List(schema.TypeDataplane, "default"); len(got) != 2 || got[0].Resource.Name != "backend-1" {
		t.Errorf("List(default) = %v", got)
	}
	if !r.Delete(keys[0]) || r.Delete(keys[0]) {
		t.Error("Delete must report whether the key existed")
	}
	if keys, _ := w.Next(ctx); len(keys) != 1 {
		t.Errorf("after delete Next = %v", keys)
	}
	if _, err := r.Put(schema.Resource{Type: schema.TypeMeshHTTPRoute, Mesh: "default", Name: "r"}); err == nil {
		t.Error("a policy was registered at the zone")
	}
}

func TestOnlineStatus(t *testing.T) {
	t.Parallel()
	r := New("z")
	r.Put(dataplane("default", "web-1", "web"))
	k := NodeKey("default.web-1")
	r.Connected("default.web-1")
	e, _ := r.Get(k)
	if !e.Status.Online || e.Status.ConnectedAt.IsZero() {
		t.Fatalf("after connect: %+v", e.Status)
	}
	r.Connected("default.web-1") // a second stream
	r.Disconnected("default.web-1")
	if e, _ := r.Get(k); !e.Status.Online {
		t.Error("offline while a stream is still open")
	}
	r.Disconnected("default.web-1")
	e, _ = r.Get(k)
	if e.Status.Online || e.Status.DisconnectedAt.IsZero() {
		t.Errorf("after last disconnect: %+v", e.Status)
	}
	if NodeKey("m.a-b").Name != "a-b" || NodeID("m", "n") != "m.n" {
		t.Error("node id mapping")
	}
}

func TestZoneIngressTakesZoneNotAvailableServices(t *testing.T) {
	t.Parallel()
	r := New("zone-a")
	in := schema.Resource{Type: schema.TypeZoneIngress, Name: "ingress-1", Spec: &schema.ZoneIngressSpec{
		Zone:              "zone-b",
		AvailableServices: []schema.AvailableService{{Mesh: "default", Tags: map[string]string{schema.TagService: "fake"}, Instances: 99}},
	}}
	if _, err := r.Put(in); err != nil {
		t.Fatal(err)
	}
	e, _ := r.Get(in.Key())
	zi := e.Resource.ZoneIngressSpec()
	if zi.Zone != "zone-a" || zi.AvailableServices != nil {
		t.Errorf("stored ingress: zone %q, availableServices %v; want zone-a and none", zi.Zone, zi.AvailableServices)
	}
}
