package kds

import (
	"slices"
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/store"
)

// A zone's registry feeds KDS: its ingress reaches the other zone with
// availableServices counted from its dataplanes, split by the tags routes
// use (version here) and by nothing else.
func TestRegistrySourceAdvertisesServicesThroughIngress(t *testing.T) {
	t.Parallel()
	route := schema.Resource{Type: schema.TypeMeshHTTPRoute, Name: "canary", Mesh: "default", Spec: &schema.PolicyBody{Spec: schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMesh},
		To: []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "backend"}, Rules: []schema.RouteRule{{
			Default: schema.RouteDefault{BackendRefs: []schema.BackendRef{{Kind: schema.KindMeshServiceSubset, Name: "backend", Tags: map[string]string{"version": "v2"}, Weight: 1}}},
		}}}},
	}}}
	v1 := bundleOf(nil, route)
	g := startGlobal(t, nil)
	g.bundles.Set(v1)
	a := startZone(t, g, "zone-a", nil)

	reg := store.New("zone-b")
	src := NewRegistrySource(reg, func() *compiler.Bundle { return v1 })
	defer src.Close()
	b := &testZone{name: "zone-b", sink: NewMemorySink(), source: nil, state: t.TempDir()}
	b.run(t, g, func(o *ClientOptions) { o.Source = src })

	dp := func(name, version string) schema.Resource {
		r := dataplane(name, "backend")
		r.DataplaneSpec().Networking.Inbound[0].Tags["version"] = version
		r.DataplaneSpec().Networking.Inbound[0].Tags["team"] = "payments" // no route uses it
		return r
	}
	for _, r := range []schema.Resource{ingress("ingress", nil), dp("b1", "v1"), dp("b2", "v1"), dp("b3", "v2")} {
		if _, err := reg.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"zone-b/backend=2", "zone-b/backend=1"}
	eventually(t, "zone-a sees zone-b's backend split by version", func() bool {
		s, _ := a.sink.Last()
		if len(s.RemoteIngresses) != 1 {
			return false
		}
		var got []string
		for _, as := range s.RemoteIngresses[0].ZoneIngressSpec().AvailableServices {
			if _, ok := as.Tags["team"]; ok {
				t.Fatalf("a tag no route uses was advertised: %v", as.Tags)
			}
			got = append(got, "zone-b/"+as.Tags[schema.TagService]+"="+itoa(as.Instances))
		}
		return slices.Equal(got, want)
	})
	eventually(t, "global inventory has zone-b's 3 dataplanes", func() bool { return g.zones(t)["zone-b"].Dataplanes == 3 })
	reg.Delete(schema.Key{Type: schema.TypeDataplane, Mesh: "default", Name: "b3"})
	eventually(t, "zone-a sees v2 gone", func() bool {
		got := a.remoteServices()
		return slices.Equal(got, []string{"zone-b/backend=2"})
	})
}

func itoa(n int) string { return string(rune('0' + n)) }
