package cmdtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// inventoryYAML is a dataplane inventory in the shape a zone's API lists it.
const inventoryYAML = `items:
- zone: zone-a
  resource:
    type: Dataplane
    mesh: default
    name: web-1
    networking:
      address: 10.0.0.1
      inbound:
      - port: 8080
        tags: {kuma.io/service: web, kuma.io/protocol: http, kuma.io/zone: zone-a}
      outbound:
      - port: 10001
        tags: {kuma.io/service: backend}
- zone: zone-a
  resource:
    type: Dataplane
    mesh: default
    name: backend-1
    networking:
      address: 10.0.0.2
      inbound:
      - port: 8080
        tags: {kuma.io/service: backend, kuma.io/protocol: http, version: v1, kuma.io/zone: zone-a}
- zone: zone-a
  resource:
    type: Dataplane
    mesh: default
    name: backend-2
    networking:
      address: 10.0.0.3
      inbound:
      - port: 8080
        tags: {kuma.io/service: backend, kuma.io/protocol: http, version: v2, kuma.io/zone: zone-a}
- zone: zone-a
  resource:
    type: Dataplane
    mesh: default
    name: other-1
    networking:
      address: 10.0.0.4
      inbound:
      - port: 9090
        tags: {kuma.io/service: other, kuma.io/zone: zone-a}
`

// meshc diff --inventory: the proxies whose plan a change touches, and how.
func TestDiffInventoryListsTouchedProxies(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	for dir, w := range map[string]string{a: "10", b: "50"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, dir, map[string]string{"mesh.yaml": globalMesh, "route.yaml": routeWithWeight(w)})
	}
	writeFiles(t, tmp, map[string]string{"inventory.yaml": inventoryYAML, "bad.yaml": "items:\n- resource: {type: Dataplane, name: x}\n"})
	r := run(t, tmp, "diff", "--inventory", "inventory.yaml", "a", "b")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "proxy default.web-1:\n    weights outbound backend route *: backend 90, backend{version=v2} 10 → backend 90, backend{version=v2} 50") {
		t.Errorf("web-1's weight change is not listed:\n%s", r.stdout)
	}
	for _, untouched := range []string{"default.other-1", "default.backend-1", "default.backend-2"} {
		if strings.Contains(r.stdout, "proxy "+untouched) {
			t.Errorf("%s is listed but a route change of web does not touch it:\n%s", untouched, r.stdout)
		}
	}
	if r := run(t, tmp, "diff", "--inventory", "inventory.yaml", "a", "a"); r.code != 0 {
		t.Errorf("same sides with an inventory: exit %d\n%s", r.code, r.stdout)
	}
	if r := run(t, tmp, "diff", "--inventory", "bad.yaml", "a", "b"); r.code != 1 || !strings.Contains(r.stderr, "bad.yaml") || !strings.Contains(r.stderr, "mesh and name") {
		t.Errorf("bad inventory: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, tmp, "diff", "--inventory", "http://127.0.0.1:1/meshes/default/dataplanes", "a", "b"); r.code != 1 || !strings.Contains(r.stderr, "--inventory") {
		t.Errorf("unreachable inventory URL: exit %d\n%s", r.code, r.stderr)
	}
}
