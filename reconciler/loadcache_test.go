package reconciler

import (
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

const cueTimeouts = `package mesh

resources: [for s in ["a", "b"] {
	type: "MeshTimeout"
	name: "cue-" + s
	mesh: "default"
	spec: {
		targetRef: kind: "Mesh"
		to: [{targetRef: {kind: "MeshService", name: s}, default: connectionTimeout: "SECONDSs"}]
	}
}]
`

// The per-blob load cache gives exactly what a full load gives, commit after
// commit: edits, renames, deletions, an invalid file and its fix, CUE beside YAML.
func TestLoadCacheMatchesFullLoad(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	r := newGitReconciler(t, GitOptions{URL: repo.Bare, Path: "mesh"}, Options{Poll: 20 * time.Millisecond})
	startReconciler(t, r)
	gr, err := git.PlainOpen(repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	steps := []func(){
		func() {
			repo.Write(map[string]string{"mesh/mesh.yaml": meshYAML, "mesh/a.yaml": timeoutPolicy("a", "a", "1s"),
				"mesh/b.yaml": timeoutPolicy("b", "b", "1s"), "mesh/.hidden/x.yaml": invalidYAML})
		},
		func() { repo.Write(map[string]string{"mesh/a.yaml": timeoutPolicy("a", "a", "2s")}) },
		func() {
			repo.Remove("mesh/b.yaml")
			repo.Write(map[string]string{"mesh/sub/b2.yaml": timeoutPolicy("b", "b", "1s")})
		},
		func() {
			repo.Write(map[string]string{"mesh/bad.yaml": invalidYAML, "mesh/c.yaml": timeoutPolicy("c", "c", "3s")})
		},
		func() { repo.Write(map[string]string{"mesh/c.yaml": timeoutPolicy("c", "c", "4s")}) }, // still invalid: bad.yaml from the cache
		func() { repo.Remove("mesh/bad.yaml") },
		func() { repo.Write(map[string]string{"mesh/t.cue": strings.ReplaceAll(cueTimeouts, "SECONDS", "5")}) },
		func() { repo.Write(map[string]string{"mesh/t.cue": strings.ReplaceAll(cueTimeouts, "SECONDS", "6")}) },
		func() { repo.Write(map[string]string{"mesh/a.yaml": timeoutPolicy("b", "b", "1s")}) }, // duplicate of sub/b2.yaml's policy
		func() { repo.Write(map[string]string{"mesh/a.yaml": timeoutPolicy("a", "a", "1s")}) },
	}
	for i, step := range steps {
		step()
		c := repo.CommitPush("step")
		waitFor(t, "step attempted", func() bool { a := r.Status().LastAttempt; return a != nil && a.Revision == c })
		st := r.Status()

		commit, err := gr.CommitObject(plumbing.NewHash(c))
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := CommitFS(gr, commit, "mesh", 0)
		if err != nil {
			t.Fatal(err)
		}
		rs, diags := schema.LoadFS(fsys, ".", "mesh/")
		b, cdiags := compiler.Compile(rs, compiler.Options{Commit: c, Incomplete: diags.HasErrors()})
		diags = append(diags, cdiags...)
		diags.Sort()
		if got, want := st.LastAttempt.Diagnostics, diags; schema.Errors(got).Error() != want.Error() {
			t.Fatalf("step %d: cached load diagnostics\n%v\nfull load\n%v", i, schema.Errors(got), want)
		}
		if !diags.HasErrors() && st.LastAttempt.Version != b.Version {
			t.Fatalf("step %d: cached load version %s, full load %s", i, st.LastAttempt.Version, b.Version)
		}
		if diags.HasErrors() != (st.LastAttempt.Result == ResultInvalid) {
			t.Fatalf("step %d: result %s with diagnostics %v", i, st.LastAttempt.Result, diags)
		}
	}
}
