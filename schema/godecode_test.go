package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestGoDecodeMatchesCUE: decoding a valid document in Go with
// applyDefaults gives exactly what CUE's own export of the defaulted value
// gives, for every default in the schema.
func TestGoDecodeMatchesCUE(t *testing.T) {
	t.Parallel()
	corpus := map[string]string{"defaults.yaml": `type: Mesh
name: m1
mtls:
  enabledBackend: a
  backends: [{name: a, type: builtin}, {name: b, type: builtin, conf: {caCert: {RSAbits: 4096, expiration: 1y}}}]
---
type: Mesh
name: m2
networking: {outbound: {passthrough: false}, vipCIDR: 241.0.0.0/8}
---
type: Zone
name: z
---
type: MeshHTTPRoute
name: r
mesh: m1
spec:
  targetRef: {kind: MeshService, name: web}
  to:
    - targetRef: {kind: MeshService, name: backend}
      rules:
        - matches: [{path: {type: PathPrefix, value: /a}, headers: [{name: x, value: "1"}, {type: Present, name: y}], queryParams: [{name: q, value: v}]}]
          default:
            filters:
              - type: RequestMirror
                requestMirror: {backendRef: {name: shadow}, percentage: 10}
              - type: RequestHeaderModifier
                requestHeaderModifier: {set: [{name: a, value: b}]}
            backendRefs: [{name: backend}, {kind: MeshServiceSubset, name: backend, tags: {version: v2}, weight: 0}]
---
type: MeshTCPRoute
name: t
mesh: m1
spec:
  to:
    - targetRef: {kind: MeshService, name: db}
      rules: [{default: {backendRefs: [{name: db}]}}]
---
type: ExternalService
name: e
mesh: m1
tags: {kuma.io/service: e}
networking: {address: "e.example.com:443", tls: {serverName: e.example.com}}
---
type: MeshCircuitBreaker
name: cb
mesh: m1
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {outlierDetection: {disabled: false, maxEjectionPercent: -0}}
`}
	dir := t.TempDir()
	writeRepo(t, dir, 60)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".yaml" {
			b, _ := os.ReadFile(p)
			corpus[p] = string(b)
		}
		return nil
	})
	if ex, err := os.ReadDir("../examples"); err == nil && len(ex) > 0 {
		filepath.WalkDir("../examples", func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (filepath.Ext(p) == ".yaml" || filepath.Ext(p) == ".yml") {
				b, _ := os.ReadFile(p)
				corpus[p] = string(b)
			}
			return nil
		})
	}
	fast := compileSchema()
	slow := compileSchema()
	slow.exportOnly = true
	n := 0
	for name, body := range corpus {
		a, errsA := loadYAML(fast, name, []byte(body))
		b, errsB := loadYAML(slow, name, []byte(body))
		if len(errsA) > 0 || len(errsB) > 0 || len(a) != len(b) {
			t.Fatalf("%s: errors %v / %v", name, errsA, errsB)
		}
		for i := range a {
			ja, _ := json.Marshal(a[i])
			jb, _ := json.Marshal(b[i])
			if string(ja) != string(jb) {
				t.Errorf("%s: %s\nGo decode: %s\nCUE export: %s", name, a[i].Key(), ja, jb)
			}
			n++
		}
	}
	if n < 50 {
		t.Fatalf("compared only %d resources", n)
	}

	// CUE packages: the walk in exportCUE against MarshalJSON.
	cueDirs := map[string][]cueFile{
		"inline": {{name: "inline/a.cue", data: []byte(`package a
import "meshc.dev/schema"
#route: schema.#MeshHTTPRoute & {mesh: "m1", spec: to: [{targetRef: {kind: "MeshService", name: "b"}, rules: [{matches: [{headers: [{name: "x"}]}], default: backendRefs: [{name: "b"}, {name: "c", weight: 3}]}]}]}
resources: {
	r1: #route & {name: "r1"}
	m: {type: "Mesh", name: "m1", mtls: {enabledBackend: "a", backends: [{name: "a", type: "builtin"}]}}
	e: {type: "ExternalService", name: "e", mesh: "m1", tags: "kuma.io/service": "e", networking: {address: "e.x:443", tls: {}}}
	z: schema.#Zone & {name: "z", enabled: false}
	cb: {type: "MeshCircuitBreaker", name: "cb", mesh: "m1", spec: to: [{targetRef: kind: "Mesh", default: outlierDetection: interval: "1s"}]}
}
`)}},
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".cue" {
			b, _ := os.ReadFile(p)
			cueDirs[filepath.Dir(p)] = append(cueDirs[filepath.Dir(p)], cueFile{name: p, data: b})
		}
		return nil
	})
	m := 0
	for d, files := range cueDirs {
		a, errsA := loadCUEDir(fast, d, files)
		b, errsB := loadCUEDir(slow, d, files)
		if len(errsA) > 0 || len(errsB) > 0 || len(a) != len(b) {
			t.Fatalf("%s: errors %v / %v", d, errsA, errsB)
		}
		for i := range a {
			ja, _ := json.Marshal(a[i])
			jb, _ := json.Marshal(b[i])
			if string(ja) != string(jb) {
				t.Errorf("%s: %s\nGo decode: %s\nCUE export: %s", d, a[i].Key(), ja, jb)
			}
			m++
		}
	}
	if m < 10 {
		t.Fatalf("compared only %d CUE resources", m)
	}
}
