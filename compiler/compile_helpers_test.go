package compiler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshc/meshc/schema"
)

// res builds a resource from a universal-format YAML document, the way a
// loader would hand it over, with a Source that gives every field path its own
// line in a file named after the resource (so a test can tell which field a
// diagnostic points at). It does not validate or fill defaults.
func res(t testing.TB, doc string) schema.Resource {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("test YAML: %v\n%s", err, doc)
	}
	var r schema.Resource
	if err := json.Unmarshal(j, &r); err != nil {
		t.Fatalf("test resource: %v\n%s", err, doc)
	}
	var tree any
	if err := json.Unmarshal(j, &tree); err != nil {
		t.Fatal(err)
	}
	file := strings.ToLower(r.Type) + "-" + r.Name + ".yaml"
	r.Source = schema.Source{Pos: schema.Pos{File: file, Line: 1, Col: 1}, Fields: map[string]schema.Pos{}}
	var paths []string
	walkPaths(tree, "", &paths)
	sort.Strings(paths)
	for i, p := range paths {
		r.Source.Fields[p] = schema.Pos{File: file, Line: i + 2, Col: 3}
	}
	return r
}

func walkPaths(v any, prefix string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			*out = append(*out, p)
			walkPaths(e, p, out)
		}
	case []any:
		for i, e := range x {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			*out = append(*out, p)
			walkPaths(e, p, out)
		}
	}
}

// repo builds several resources from YAML documents.
func repo(t testing.TB, docs ...string) []schema.Resource {
	t.Helper()
	out := make([]schema.Resource, len(docs))
	for i, d := range docs {
		out[i] = res(t, d)
	}
	return out
}

// Documents shared by the table tests: a valid mesh with mTLS and a permission.
const (
	meshDefault = `
type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    conf: {caCert: {RSAbits: 2048, expiration: 87600h}}
routing: {localityAwareLoadBalancing: true}
`
	meshPayments = `
type: Mesh
name: payments
`
	allowWebToBackend = `
type: MeshTrafficPermission
name: allow-web
mesh: default
spec:
  targetRef: {kind: MeshService, name: backend}
  from:
  - targetRef: {kind: MeshService, name: web}
    default: {action: Allow}
`
)
