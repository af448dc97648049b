package cmdtest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// bundleDoc is the part of `meshc compile` output the tests read.
type bundleDoc struct {
	Version   string           `json:"version"`
	Commit    string           `json:"commit"`
	Resources []map[string]any `json:"resources"`
}

func compileOK(t *testing.T, dir string, args ...string) (string, bundleDoc) {
	t.Helper()
	r := run(t, dir, append([]string{"compile"}, args...)...)
	if r.code != 0 {
		t.Fatalf("meshc compile %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var b bundleDoc
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("meshc compile %v: not JSON: %v\n%s", args, err, r.stdout)
	}
	return r.stdout, b
}

func TestCompileExamplesGolden(t *testing.T) {
	t.Parallel()
	out, b := compileOK(t, root(), "examples", "--commit", "0000000000000000000000000000000000000000")
	golden(t, filepath.Join(root(), "testdata", "golden", "examples-bundle.json"), out)
	if b.Commit != "0000000000000000000000000000000000000000" {
		t.Errorf("commit %q, want the --commit value", b.Commit)
	}
	// What the demo and e2e tests rely on.
	have := map[string]bool{}
	for _, r := range b.Resources {
		have[fmt.Sprintf("%s/%v/%v", r["type"], r["mesh"], r["name"])] = true
	}
	for _, k := range []string{
		"Mesh/<nil>/default", "Mesh/<nil>/payments",
		"MeshTrafficPermission/default/allow-web-to-backend",
		"MeshTrafficPermission/payments/allow-payments-api-to-ledger",
		"MeshHTTPRoute/default/backend-canary",
		"MeshTimeout/payments/ledger-inbound-timeout", // stamped out by teams/teams.cue
	} {
		if !have[k] {
			t.Errorf("examples bundle lacks %s", k)
		}
	}
}

func TestCompileYAMLIsTheSameBundle(t *testing.T) {
	t.Parallel()
	_, fromJSON := compileOK(t, root(), "examples")
	r := run(t, root(), "compile", "-o", "yaml", "examples")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	j, err := yaml.YAMLToJSON([]byte(r.stdout))
	if err != nil {
		t.Fatalf("-o yaml is not YAML: %v", err)
	}
	var fromYAML bundleDoc
	if err := json.Unmarshal(j, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("-o yaml and -o json describe different bundles")
	}
}

// TestCompileVersionIsContent rewrites the examples in other shapes — one
// multi-document YAML file in reverse order, every resource as a CUE file,
// JSON files under other names — and expects the same version.
func TestCompileVersionIsContent(t *testing.T) {
	t.Parallel()
	_, want := compileOK(t, root(), "examples")

	docs := make([]string, len(want.Resources))
	for i, r := range want.Resources {
		y, err := yaml.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		docs[len(docs)-1-i] = string(y)
	}
	oneFile := t.TempDir()
	writeFile(t, filepath.Join(oneFile, "everything.yml"), strings.Join(docs, "---\n"))

	cueRepo := t.TempDir()
	var cue strings.Builder
	cue.WriteString("package mesh\n\nresources: {\n")
	for i, r := range want.Resources {
		j, _ := json.Marshal(r) // JSON is CUE
		fmt.Fprintf(&cue, "\tr%d: %s\n", i, j)
	}
	cue.WriteString("}\n")
	writeFile(t, filepath.Join(cueRepo, "all.cue"), cue.String())

	cueList := t.TempDir() // resources as a list, in reverse order
	cue.Reset()
	cue.WriteString("package mesh\n\nresources: [\n")
	for i := len(want.Resources) - 1; i >= 0; i-- {
		j, _ := json.Marshal(want.Resources[i])
		fmt.Fprintf(&cue, "\t%s,\n", j)
	}
	cue.WriteString("]\n")
	writeFile(t, filepath.Join(cueList, "all.cue"), cue.String())

	jsonRepo := t.TempDir()
	for i, r := range want.Resources {
		j, _ := json.MarshalIndent(r, "", "    ")
		writeFile(t, filepath.Join(jsonRepo, fmt.Sprintf("z%03d", 100-i), "r.json"), string(j))
	}

	for name, dir := range map[string]string{"one YAML file": oneFile, "CUE struct": cueRepo, "CUE list": cueList, "JSON files": jsonRepo} {
		_, got := compileOK(t, dir, ".", "--commit", "other")
		if got.Version != want.Version {
			t.Errorf("%s: version %s, want %s (same content)", name, got.Version, want.Version)
		}
	}

	// And a change of content changes it.
	changed := strings.Replace(strings.Join(docs, "---\n"), "weight: 90", "weight: 80", 1)
	writeFile(t, filepath.Join(oneFile, "everything.yml"), changed)
	if _, got := compileOK(t, oneFile); got.Version == want.Version {
		t.Errorf("a weight change kept version %s", got.Version)
	}
}

func TestCompileInvalid(t *testing.T) {
	t.Parallel()
	r := run(t, filepath.Join(root(), "testdata", "invalid"), "compile", "route-weights-zero")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q: want 1 and no bundle", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "route-weights-zero/route.yaml:14:13: spec.to[0].rules[0].default.backendRefs: all backendRefs have weight 0") {
		t.Errorf("stderr should carry the error with its place:\n%s", r.stderr)
	}
	for _, args := range [][]string{{"compile", "nowhere"}, {"compile", "-o", "toml", "examples"}, {"compile", "examples", "examples"}} {
		if r := run(t, root(), args...); r.code != 2 {
			t.Errorf("meshc %v: exit %d, want 2", args, r.code)
		}
	}
}
