package compiler_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// bundleOf loads files (name → YAML) with the real loader and compiles them.
func bundleOf(t *testing.T, files map[string]string) *compiler.Bundle {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	rs, errs := schema.LoadFS(fsys, ".", "")
	if errs.HasErrors() {
		t.Fatalf("load: %v", errs)
	}
	b, errs := compiler.Compile(rs, compiler.Options{})
	if errs.HasErrors() {
		t.Fatalf("compile: %v", errs)
	}
	return b
}

const diffMesh = "type: Mesh\nname: default\n"

// diffMeshExplicit spells out what the schema defaults anyway.
const diffMeshExplicit = `type: Mesh
name: default
routing:
  localityAwareLoadBalancing: false
  zoneEgress: false
networking:
  outbound:
    passthrough: true
`

func canary(weightB int, zoneB string) string {
	return `type: MeshHTTPRoute
name: backend-canary
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
    - targetRef:
        kind: MeshService
        name: backend
      rules:
        - default:
            backendRefs:
              - kind: MeshServiceSubset
                name: backend
                tags:
                  kuma.io/zone: zone-a
                weight: 90
              - kind: MeshServiceSubset
                name: backend
                tags:
                  kuma.io/zone: ` + zoneB + `
                weight: ` + strconv.Itoa(weightB) + `
`
}

const retry = `type: MeshRetry
name: retry-all
mesh: default
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: MeshService
        name: payments
      default:
        http:
          numRetries: 3
`

// route with an unnamed weight (default 1) and an implicit backendRef kind (default MeshService).
const routeImplicit = `type: MeshHTTPRoute
name: r
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
    - targetRef:
        kind: MeshService
        name: api
      rules:
        - default:
            backendRefs:
              - name: api
`

const routeExplicit = `type: MeshHTTPRoute
name: r
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
    - targetRef:
        kind: MeshService
        name: api
      rules:
        - default:
            backendRefs:
              - kind: MeshService
                name: api
                weight: 1
`

func TestDiff(t *testing.T) {
	t.Parallel()
	type field struct{ path, op, from, to string }
	tests := []struct {
		name            string
		from, to        map[string]string
		added, removed  []string
		changed         map[string][]field
		meshes, wide    []string
		services, route []string
	}{
		{
			name: "identical",
			from: map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-b")},
			to:   map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-b")},
		},
		{
			name: "defaults spelled out are not a change",
			from: map[string]string{"m.yaml": diffMesh, "r.yaml": routeImplicit},
			to:   map[string]string{"mesh/default.yaml": diffMeshExplicit, "routes/r.yaml": routeExplicit},
		},
		{
			name:    "weight change down to the field path",
			from:    map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-b")},
			to:      map[string]string{"m.yaml": diffMesh, "r.yaml": canary(50, "zone-b")},
			changed: map[string][]field{"MeshHTTPRoute/default/backend-canary": {{"spec.to[0].rules[0].default.backendRefs[1].weight", "changed", "10", "50"}}},
			meshes:  []string{"default"}, services: []string{"default/backend", "default/web"},
			route: []string{"MeshHTTPRoute/default/backend-canary"},
		},
		{
			name:    "a tag key that is not an identifier is quoted in the path",
			from:    map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-b")},
			to:      map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-c")},
			changed: map[string][]field{"MeshHTTPRoute/default/backend-canary": {{`spec.to[0].rules[0].default.backendRefs[1].tags["kuma.io/zone"]`, "changed", `"zone-b"`, `"zone-c"`}}},
			meshes:  []string{"default"}, services: []string{"default/backend", "default/web"},
			route: []string{"MeshHTTPRoute/default/backend-canary"},
		},
		{
			name:    "added and removed policies; a Mesh-wide targetRef",
			from:    map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-b")},
			to:      map[string]string{"m.yaml": diffMesh, "retry.yaml": retry},
			added:   []string{"MeshRetry/default/retry-all"},
			removed: []string{"MeshHTTPRoute/default/backend-canary"},
			meshes:  []string{"default"}, wide: []string{"default"},
			services: []string{"default/backend", "default/payments", "default/web"},
			route:    []string{"MeshHTTPRoute/default/backend-canary"},
		},
		{
			name:    "a Mesh change is mesh-wide",
			from:    map[string]string{"m.yaml": diffMesh},
			to:      map[string]string{"m.yaml": diffMesh + "routing:\n  localityAwareLoadBalancing: true\n"},
			changed: map[string][]field{"Mesh/default": {{"routing.localityAwareLoadBalancing", "changed", "false", "true"}}},
			meshes:  []string{"default"}, wide: []string{"default"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := compiler.Diff(bundleOf(t, tc.from), bundleOf(t, tc.to))
			if err != nil {
				t.Fatal(err)
			}
			keys := func(cs []compiler.ResourceChange) []string {
				var out []string
				for _, c := range cs {
					out = append(out, c.Key.String())
				}
				return out
			}
			eq(t, "added", keys(d.Added), tc.added)
			eq(t, "removed", keys(d.Removed), tc.removed)
			eq(t, "changed", keys(d.Changed), sortedKeys(tc.changed))
			for _, c := range d.Changed {
				var got []string
				for _, f := range c.Fields {
					got = append(got, f.Path+" "+f.Op+" "+jsonText(f.From)+" "+jsonText(f.To))
				}
				var want []string
				for _, f := range tc.changed[c.Key.String()] {
					want = append(want, f.path+" "+f.op+" "+f.from+" "+f.to)
				}
				eq(t, "fields of "+c.Key.String(), got, want)
			}
			eq(t, "meshes", d.Effects.Meshes, tc.meshes)
			eq(t, "mesh-wide", d.Effects.MeshWide, tc.wide)
			var svcs, routes []string
			for _, s := range d.Effects.Services {
				svcs = append(svcs, s.String())
			}
			for _, r := range d.Effects.Routes {
				routes = append(routes, r.String())
			}
			eq(t, "services", svcs, tc.services)
			eq(t, "routes", routes, tc.route)
			if d.Empty() != (len(tc.added)+len(tc.removed)+len(tc.changed) == 0) {
				t.Errorf("Empty() = %v", d.Empty())
			}
		})
	}
}

// A changed field carries the position of the field in the new source.
func TestDiffFieldPosition(t *testing.T) {
	t.Parallel()
	d, err := compiler.Diff(bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": canary(10, "zone-b")}),
		bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": canary(50, "zone-b")}))
	if err != nil {
		t.Fatal(err)
	}
	f := d.Changed[0].Fields[0]
	if f.Pos.File != "r.yaml" || f.Pos.Line != 24 || f.Pos.Col != 17 {
		t.Fatalf("weight change at %v, want r.yaml:24:17 (the weight)", f.Pos)
	}
}

// Inserting a list element reports that element, not every later one changed.
func TestDiffListInsertion(t *testing.T) {
	t.Parallel()
	two := canary(10, "zone-b")
	three := strings.Replace(two, "            backendRefs:\n", "            backendRefs:\n              - name: backend-v0\n                weight: 5\n", 1)
	d, err := compiler.Diff(bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": two}),
		bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": three}))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changed) != 1 || len(d.Changed[0].Fields) != 1 {
		t.Fatalf("changes %+v", d.Changed)
	}
	f := d.Changed[0].Fields[0]
	if f.Path != "spec.to[0].rules[0].default.backendRefs[0]" || f.Op != compiler.FieldAdded || f.From != nil {
		t.Fatalf("field change %+v", f)
	}
	// And the reverse is one removal at the old index.
	d, _ = compiler.Diff(bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": three}),
		bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": two}))
	if f := d.Changed[0].Fields; len(f) != 1 || f[0].Op != compiler.FieldRemoved || f[0].Path != "spec.to[0].rules[0].default.backendRefs[0]" {
		t.Fatalf("removal %+v", f)
	}
	// An insertion plus an edit elsewhere in the list: both, at their new indexes.
	edited := strings.Replace(three, "weight: 90", "weight: 80", 1)
	d, _ = compiler.Diff(bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": two}),
		bundleOf(t, map[string]string{"m.yaml": diffMesh, "r.yaml": edited}))
	var got []string
	for _, f := range d.Changed[0].Fields {
		got = append(got, f.Path+" "+f.Op)
	}
	eq(t, "insert+edit", got, []string{"spec.to[0].rules[0].default.backendRefs[0] added", "spec.to[0].rules[0].default.backendRefs[1].weight changed"})
}

func TestDiffNilSides(t *testing.T) {
	t.Parallel()
	b := bundleOf(t, map[string]string{"m.yaml": diffMesh})
	d, err := compiler.Diff(nil, b)
	if err != nil || len(d.Added) != 1 || d.To.Version != b.Version {
		t.Fatalf("nil → bundle: %+v %v", d, err)
	}
	d, err = compiler.Diff(b, nil)
	if err != nil || len(d.Removed) != 1 {
		t.Fatalf("bundle → nil: %+v %v", d, err)
	}
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
