package schema

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func keys(rs []Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key().String()
	}
	return out
}

// TestLoadPathsRepo: a directory with good and bad files, hidden dirs,
// non-resource files and symlinks: the good files load in a fixed order,
// each bad one gets its error, the rest is ignored.
func TestLoadPathsRepo(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret.yaml": "type: Zone\nname: stolen\n"})
	root := filepath.Join(t.TempDir(), "repo")
	writeFiles(t, root, map[string]string{
		"mesh.yaml":           "type: Mesh\nname: default\n",
		"zones/b.yml":         "type: Zone\nname: zone-b\n---\ntype: Zone\nname: zone-c\nenabled: false\n",
		"zones/a.json":        `[{"type": "Zone", "name": "zone-a"}]`,
		"zones/bad.yaml":      "type: Zone\nname: Zone_X\n",
		"README.md":           "# not a resource\n",
		".git/config.yaml":    "not: [valid\n",
		".github/ci.yml":      "on: push\n",
		"cue.mod/module.cue":  "module: \"x.example\"\n",
		"policies/p.cue":      "package p\nresources: [{type: \"Zone\", name: \"zone-d\"}]\n",
		"policies/empty.yaml": "",
	})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, "zones", "out.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../mesh.yaml", filepath.Join(root, "zones", "in.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../zones", filepath.Join(root, "policies", "zones")); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("# padding\n", (MaxFileSize/10)+1)
	writeFiles(t, root, map[string]string{"zones/huge.yaml": big})

	for i := 0; i < 2; i++ { // deterministic: same result twice
		rs, errs := LoadPaths(root)
		gotKeys := keys(rs)
		wantKeys := []string{"Mesh/default", "Zone/zone-a", "Zone/zone-b", "Zone/zone-c", "Mesh/default", "Zone/zone-d"}
		if !reflect.DeepEqual(gotKeys, wantKeys) {
			t.Errorf("resources = %v, want %v", gotKeys, wantKeys)
		}
		got := diag(errs)
		want := []string{
			root + "/policies/empty.yaml: file is empty: add resources or delete the file",
			"warning: " + root + "/policies/zones: symlink to a directory is not followed",
			root + `/zones/bad.yaml:2:7: name: invalid value "Zone_X": must be an RFC 1123 name`,
			root + "/zones/huge.yaml: file is 4.0 MiB, over the 4 MiB limit for one file; split it into smaller files",
			root + "/zones/out.yaml: symlink points outside the repository (to " + outside,
		}
		if len(got) != len(want) {
			t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("diagnostic %d:\n got %s\nwant %s…", i, got[i], want[i])
			}
		}
	}
}

// TestLoadPathsNamesAsGiven: positions use the path the user typed.
func TestLoadPathsNamesAsGiven(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"payments/mesh.yaml": "type: Mesh\nname: payments\nrouting:\n  zoneEgress: 1\n", "payments/nope.txt": "x"})
	t.Chdir(dir)
	_, errs := LoadPaths("payments", "payments/mesh.yaml", "missing.yaml", "payments/nope.txt")
	got := diag(errs)
	want := []string{
		"missing.yaml: cannot read: no such file or directory",
		"payments/mesh.yaml:4:15: routing.zoneEgress: wrong type: want bool, got int 1",
		"payments/mesh.yaml:4:15: routing.zoneEgress: wrong type: want bool, got int 1",
	}
	if len(got) != 4 || !reflect.DeepEqual(got[:3], want) || !strings.HasPrefix(got[3], "payments/nope.txt: not a resource file") {
		t.Fatalf("diagnostics:\n%s", strings.Join(got, "\n"))
	}
}

// TestDefaults: what CUE fills in when the file leaves it out.
func TestDefaults(t *testing.T) {
	t.Parallel()
	rs, errs := LoadFS(fstest.MapFS{
		"r.yaml": {Data: []byte(`type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [{name: ca-1, type: builtin}]
---
type: Zone
name: zone-1
---
type: MeshHTTPRoute
name: route
mesh: default
spec:
  to:
    - targetRef: {kind: MeshService, name: backend}
      rules:
        - matches: [{headers: [{name: x-canary, value: "1"}]}]
          default:
            backendRefs: [{name: backend}]
---
type: ExternalService
name: httpbin
mesh: default
tags: {kuma.io/service: httpbin}
networking: {address: "httpbin.org:443", tls: {}}
`)},
	}, ".", "")
	if errs.HasErrors() || len(rs) != 4 {
		t.Fatalf("errs = %v, %d resources", errs, len(rs))
	}
	m := rs[0].MeshSpec()
	if m.Routing.LocalityAwareLoadBalancing || m.Routing.ZoneEgress || !m.Networking.Outbound.Passthrough {
		t.Errorf("mesh routing/networking defaults = %+v %+v", m.Routing, m.Networking)
	}
	if got := m.MTLS.Backends[0].Conf.CACert.Expiration.Duration; got != 10*365*24*time.Hour {
		t.Errorf("CA expiration default = %v, want 10y", got)
	}
	if !rs[1].ZoneSpec().Enabled {
		t.Error("Zone.enabled defaults to true")
	}
	p := rs[2].PolicySpec()
	if p.TargetRef.Kind != KindMesh {
		t.Errorf("spec.targetRef defaults to kind Mesh, got %+v", p.TargetRef)
	}
	br := p.To[0].Rules[0].Default.BackendRefs[0]
	if br.Kind != KindMeshService || br.Weight != 1 {
		t.Errorf("backendRef defaults = %+v, want kind MeshService weight 1", br)
	}
	if h := p.To[0].Rules[0].Matches[0].Headers[0]; h.Type != "Exact" {
		t.Errorf("header match type default = %q, want Exact", h.Type)
	}
	es := rs[3].ExternalServiceSpec()
	if es.Networking.TLS == nil || es.Networking.TLS.Enabled {
		t.Errorf("tls defaults = %+v", es.Networking.TLS)
	}
}

// TestFieldPositions: Source.Fields holds every field path the file wrote.
func TestFieldPositions(t *testing.T) {
	t.Parallel()
	rs, errs := LoadFS(fstest.MapFS{"r.yaml": {Data: []byte(`type: MeshHTTPRoute
name: canary
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: frontend
  to:
    - targetRef: {kind: MeshService, name: backend}
      rules:
        - default:
            backendRefs:
              - name: backend
                tags: {kuma.io/zone: zone-a}
                weight: 90
              - name: backend
                tags:
                  kuma.io/zone: zone-b
                weight: 10
`)}}, ".", "repo")
	if len(errs) > 0 || len(rs) != 1 {
		t.Fatalf("errs = %v", errs)
	}
	src := rs[0].Source
	for path, want := range map[string]string{
		"":     "repo/r.yaml:1:1",
		"name": "repo/r.yaml:2:1",
		"spec.to[0].rules[0].default.backendRefs[1].weight":                     "repo/r.yaml:19:17",
		"spec.to[0].rules[0].default.backendRefs[1]":                            "repo/r.yaml:16:17",
		`spec.to[0].rules[0].default.backendRefs[1].tags["kuma.io/zone"]`:       "repo/r.yaml:18:19",
		`spec.to[0].rules[0].default.backendRefs[0].tags["kuma.io/zone"]`:       "repo/r.yaml:14:24",
		"spec.to[0].targetRef.name":                                             "repo/r.yaml:9:38",
		"spec.to[0].rules[0].default.backendRefs[1].port":                       "repo/r.yaml:16:17", // not written: nearest parent
		`spec.to[0].rules[0].default.backendRefs[0].tags["kuma.io/zone"].extra`: "repo/r.yaml:14:24",
	} {
		if got := src.At(path).String(); got != want {
			t.Errorf("At(%q) = %s, want %s", path, got, want)
		}
	}
	if _, ok := src.Fields["spec.targetRef.kind"]; !ok {
		t.Errorf("Fields lacks spec.targetRef.kind: %v", src.Fields)
	}
}

// TestCUETemplates: a CUE package imports the schema and stamps out
// policies; resources may be a struct or a list.
func TestCUETemplates(t *testing.T) {
	t.Parallel()
	rs, errs := LoadFS(fstest.MapFS{
		"teams/defs.cue": {Data: []byte(`package teams

import "meshc.dev/schema"

#teams: ["payments", "orders"]

#timeout: schema.#MeshTimeout & {
	mesh: "default"
	spec: to: [{targetRef: kind: "Mesh", default: http: requestTimeout: "5s"}]
}
`)},
		"teams/res.cue": {Data: []byte(`package teams

resources: {
	for t in #teams {
		"timeout-\(t)": #timeout & {
			name: "timeout-\(t)"
			spec: targetRef: {kind: "MeshService", name: t}
		}
	}
}
`)},
		"list/l.cue": {Data: []byte(`package list

import "meshc.dev/schema"

resources: [
	schema.#Zone & {name: "zone-a"},
	{type: "Zone", name: "zone-b", enabled: false},
]
`)},
	}, ".", "repo")
	if len(errs) > 0 {
		t.Fatalf("errs:\n%v", errs)
	}
	got := keys(rs)
	want := []string{"Zone/zone-a", "Zone/zone-b", "MeshTimeout/default/timeout-payments", "MeshTimeout/default/timeout-orders"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resources = %v, want %v", got, want)
	}
	if !rs[0].ZoneSpec().Enabled || rs[1].ZoneSpec().Enabled {
		t.Errorf("zone enabled = %v, %v", rs[0].ZoneSpec().Enabled, rs[1].ZoneSpec().Enabled)
	}
	pay := rs[2]
	if pay.PolicySpec().TargetRef.Name != "payments" {
		t.Errorf("targetRef = %+v", pay.PolicySpec().TargetRef)
	}
	// A computed field is placed where its value was written (the team list).
	if got := pay.Source.At("spec.targetRef.name").String(); got != "repo/teams/defs.cue:5:10" {
		t.Errorf("position of spec.targetRef.name = %s", got)
	}
	if got := pay.Source.At("spec.to[0].default.http.requestTimeout").String(); got != "repo/teams/defs.cue:9:70" {
		t.Errorf("position of a templated field = %s", got)
	}
}

// TestDecodeResource: API bodies.
func TestDecodeResource(t *testing.T) {
	t.Parallel()
	r, errs := DecodeResource("body", []byte(`{"type": "Dataplane", "name": "web-1", "mesh": "default",
 "networking": {"address": "10.0.0.5", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}}`))
	if len(errs) > 0 {
		t.Fatalf("errs = %v", errs)
	}
	if dp := r.DataplaneSpec(); dp == nil || dp.Networking.Inbound[0].Tags[TagService] != "web" {
		t.Fatalf("decoded %+v", r)
	}
	for body, want := range map[string]string{
		"": "body: empty body: want one resource",
		"type: Zone\nname: a\n---\ntype: Zone\nname: b\n": "body:4:1: more than one resource: want exactly one document",
		`{"type": "Zone", "name": "a", "x": 1}`:           `body:1:31: x: unknown field "x"; allowed here: enabled, name, type`,
		`{"type": "Zone", "name": `:                       "body:1: YAML/JSON syntax error:",
		"[1, 2]":                                          "body:1:1: body is not a resource",
	} {
		_, errs := DecodeResource("body", []byte(body))
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), want) {
			t.Errorf("DecodeResource(%q) = %v, want %s…", body, errs, want)
		}
	}
}

// TestLoadFSSymlinks: in an fs.FS (a Git tree), links are resolved inside
// the FS and must stay under the root that is loaded.
func TestLoadFSSymlinks(t *testing.T) {
	t.Parallel()
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
	}
	fsys := fstest.MapFS{
		"shared/zone.yaml":    {Data: []byte("type: Zone\nname: shared\n")},
		"repo/mesh.yaml":      {Data: []byte("type: Mesh\nname: default\n")},
		"repo/sub/alias.yaml": link("../mesh.yaml"),
		"repo/out.yaml":       link("../shared/zone.yaml"),
		"repo/abs.yaml":       link("/etc/passwd"),
		"repo/chain.yaml":     link("sub/alias.yaml"),
		"repo/broken.yaml":    link("nope.yaml"),
	}
	rs, errs := LoadFS(fsys, "repo", "git:main")
	if got := keys(rs); !reflect.DeepEqual(got, []string{"Mesh/default", "Mesh/default", "Mesh/default"}) {
		t.Errorf("resources = %v (mesh.yaml, chain.yaml and sub/alias.yaml)", got)
	}
	want := []string{
		"git:main/abs.yaml: symlink points outside the repository (to /etc/passwd)",
		"git:main/broken.yaml: broken symlink",
		"git:main/out.yaml: symlink points outside the repository (to ../shared/zone.yaml)",
	}
	got := diag(errs)
	if len(got) != len(want) {
		t.Fatalf("diagnostics:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got %s\nwant %s…", got[i], want[i])
		}
	}
}
