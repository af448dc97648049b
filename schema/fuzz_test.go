package schema

import (
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes to the loader as a YAML file, a JSON file
// and an API body. The loader must not panic, must place every diagnostic
// in the file it read, and must return only well-formed resources.
//
//	go test ./schema -run '^$' -fuzz FuzzLoad -fuzztime 5m
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"type: Mesh\nname: default\n",
		"type: Zone\nname: z\nenabled: false\n---\ntype: Zone\nname: y\n",
		`{"type": "Dataplane", "name": "d", "mesh": "m", "networking": {"address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}}]}}`,
		`[{"type": "Zone", "name": "a"}, 1, null]`,
		"type: MeshHTTPRoute\nname: r\nmesh: m\nspec:\n  to:\n    - targetRef: {kind: MeshService, name: b}\n      rules: [{default: {backendRefs: [{name: b, weight: -1}]}}]\n",
		"type: MeshTimeout\nname: t\nmesh: m\nspec: {to: [{targetRef: {kind: Mesh}, default: {http: {requestTimeout: 1}}}]}\n",
		"type: [\n", "- a\n- b\n", "", "---\n---\n", "a: &x 1\nb: *x\n", "!!binary aGVsbG8=\n",
		"type: Mesh\nname: \"\\u00e9\"\n", "type: Mesh\nname: x\nmtls: {backends: [{name: a, type: builtin, conf: {caCert: {expiration: 1y1d1h}}}]}\n",
		"? [a]\n: b\n", "type: Zone\nname: z\n\"enabled\": .inf\n", "type: Zone\nname: 0x1F\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"f.yaml", "f.json"} {
			rs, errs := LoadFS(fstest.MapFS{name: {Data: data}}, ".", "repo")
			checkLoad(t, "repo/"+name, rs, errs)
		}
		r, errs := DecodeResource("body", data)
		if errs.HasErrors() {
			checkLoad(t, "body", nil, errs)
		} else {
			checkLoad(t, "body", []Resource{r}, errs)
		}
	})
}

func checkLoad(t *testing.T, file string, rs []Resource, errs Errors) {
	t.Helper()
	for _, e := range errs {
		if e.Pos.File != file || e.Msg == "" || strings.TrimSpace(e.Error()) == "" {
			t.Fatalf("diagnostic %q does not name %s", e.Error(), file)
		}
	}
	if errs.HasErrors() && len(rs) > 0 && file == "body" {
		t.Fatalf("resources returned with errors")
	}
	for _, r := range rs {
		if NewSpec(r.Type) == nil || r.Spec == nil || r.Name == "" || (IsMeshScoped(r.Type) && r.Mesh == "") {
			t.Fatalf("malformed resource %+v", r)
		}
		if r.Source.Pos.File != file {
			t.Fatalf("resource placed in %q, want %s", r.Source.Pos.File, file)
		}
	}
}
