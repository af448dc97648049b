package cmdtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const diffRoute = `type: MeshHTTPRoute
name: canary
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
              - name: backend
                weight: 90
              - kind: MeshServiceSubset
                name: backend
                tags:
                  version: v2
                weight: WEIGHT
`

func routeWithWeight(w string) string { return strings.Replace(diffRoute, "WEIGHT", w, 1) }

// meshc diff in a real Git work tree: HEAD → working tree, revisions, a sub-dir,
// an invalid side; exit 0 same, 2 changes, 1 error.
func TestDiffInGitWorkTree(t *testing.T) {
	t.Parallel()
	repo := newGitWork(t)
	repo.Write(map[string]string{"mesh/mesh.yaml": globalMesh, "mesh/route.yaml": routeWithWeight("10"), "README.md": "hi\n"})
	first := repo.Commit("first")

	r := run(t, repo.Work, "diff")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("clean tree: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Spelling out defaults (kind MeshService of the first backendRef) is no change.
	repo.Write(map[string]string{"mesh/route.yaml": strings.Replace(routeWithWeight("10"), "- name: backend\n", "- kind: MeshService\n                name: backend\n", 1)})
	if r := run(t, repo.Work, "diff", "mesh"); r.code != 0 {
		t.Fatalf("defaults spelled out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	repo.Write(map[string]string{"mesh/route.yaml": routeWithWeight("50")})
	r = run(t, filepath.Join(repo.Work, "mesh"), "diff", ".")
	want := "spec.to[0].rules[0].default.backendRefs[1].weight: 10 → 50"
	if r.code != 2 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "~ MeshHTTPRoute/default/canary") ||
		!strings.Contains(r.stdout, "services:  default/backend, default/web") || strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("weight change: exit %d, want 2 and %q without colour\n%s%s", r.code, want, r.stdout, r.stderr)
	}

	r = run(t, repo.Work, "diff", "-o", "json", "mesh")
	var rep struct {
		From    struct{ Commit string }
		Changed []struct {
			Fields []struct {
				Path     string
				From, To any
			}
		}
		Effects struct{ Routes []struct{ Name string } }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 2 {
		t.Fatalf("json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if rep.From.Commit != first || len(rep.Changed) != 1 || rep.Changed[0].Fields[0].To != float64(50) || rep.Effects.Routes[0].Name != "canary" {
		t.Fatalf("json report %+v", rep)
	}

	// Commit it: HEAD~1 → HEAD shows the same change; HEAD → working tree shows none.
	repo.Write(map[string]string{"mesh/extra.yaml": "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n    - targetRef:\n        kind: Mesh\n      default:\n        connectionTimeout: 3s\n"})
	repo.Commit("second")
	r = run(t, repo.Work, "diff", "--from", "HEAD~1", "--to", "HEAD", "mesh")
	if r.code != 2 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "+ MeshTimeout/default/t") || !strings.Contains(r.stdout, "mesh-wide: default") {
		t.Fatalf("HEAD~1 → HEAD: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, repo.Work, "diff", "mesh"); r.code != 0 {
		t.Fatalf("after commit: exit %d\n%s", r.code, r.stdout)
	}

	// A directory not yet committed: everything is added.
	repo.Write(map[string]string{"new/mesh.yaml": "type: Mesh\nname: other\n"})
	if r := run(t, repo.Work, "diff", "new"); r.code != 2 || !strings.Contains(r.stdout, "+ Mesh/other") {
		t.Fatalf("new dir: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// An invalid working tree is an error showing where.
	repo.Write(map[string]string{"mesh/bad.yaml": "type: MeshTimeout\nname: bad\nmesh: default\nspec:\n  targetRef:\n    kind: Nope\n"})
	r = run(t, repo.Work, "diff", "mesh")
	if r.code != 1 || !strings.Contains(r.stderr, "working tree") || !strings.Contains(r.stderr, "mesh/bad.yaml:6:") {
		t.Fatalf("invalid side: exit %d, want 1 with mesh/bad.yaml:6\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}

	if r := run(t, repo.Work, "diff", "mesh/mesh.yaml"); r.code != 1 || !strings.Contains(r.stderr, "is a file") {
		t.Fatalf("file path: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, repo.Work, "diff", "--from", "no-such-rev", "mesh"); r.code != 1 || !strings.Contains(r.stderr, "no-such-rev") {
		t.Fatalf("bad revision: exit %d %s", r.code, r.stderr)
	}
}

// meshc diff DIR_A DIR_B, and outside a Git work tree.
func TestDiffTwoDirectories(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	for dir, w := range map[string]string{a: "10", b: "10"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, dir, map[string]string{"mesh.yaml": globalMesh, "route.yaml": routeWithWeight(w)})
	}
	if r := run(t, tmp, "diff", "a", "b"); r.code != 0 {
		t.Fatalf("same dirs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	writeFiles(t, b, map[string]string{"route.yaml": routeWithWeight("50")})
	if r := run(t, tmp, "diff", "a", "b"); r.code != 2 || !strings.Contains(r.stdout, "weight: 10 → 50") {
		t.Fatalf("changed dirs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, tmp, "diff", "a", "missing"); r.code != 1 || !strings.Contains(r.stderr, "missing") {
		t.Fatalf("missing dir: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, tmp, "diff", "a"); r.code != 1 || !strings.Contains(r.stderr, "not in a Git work tree") {
		t.Fatalf("no git: exit %d %s", r.code, r.stderr)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
