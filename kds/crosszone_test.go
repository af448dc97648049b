package kds

import (
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

// A mesh without mTLS whose service runs in two zones: GET /zones warns on
// both zones (cross-zone traffic is not routed); a service in one zone only
// and a mesh with mTLS are not reported.
func TestZonesWarnCrossZoneWithoutMTLS(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	plain := schema.Resource{Type: schema.TypeMesh, Name: "plain", Spec: &schema.MeshSpec{}}
	b := bundleOf(nil, plain)
	g.bundles.Set(b)
	inPlain := func(r schema.Resource) schema.Resource { r.Mesh = "plain"; return r }
	za := startZone(t, g, "zone-a", nil)
	zb := startZone(t, g, "zone-b", nil)
	za.source.Set(inPlain(dataplane("backend-1", "backend")), inPlain(dataplane("web-1", "web")), dataplane("secure-1", "secure"))
	zb.source.Set(inPlain(dataplane("backend-2", "backend")), dataplane("secure-2", "secure"))
	want := `mesh "plain" has no mTLS but service "backend" runs in zones zone-a, zone-b`
	eventually(t, "both zones carry the warning", func() bool {
		zs := g.zones(t)
		for _, z := range []string{"zone-a", "zone-b"} {
			if ws := zs[z].Warnings; len(ws) != 1 || !strings.Contains(ws[0], want) {
				return false
			}
		}
		return true
	})
}
