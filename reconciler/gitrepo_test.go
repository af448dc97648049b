package reconciler

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/schema"
)

// gitRepo is a real bare remote made with the git CLI plus a work tree that
// commits and pushes to it.
type gitRepo = testenv.GitRepo

func newGitRepo(t testing.TB) *gitRepo { t.Helper(); return testenv.NewGitRepo(t) }

const meshYAML = `type: Mesh
name: default
`

func timeoutPolicy(name, service, timeout string) string {
	return `type: MeshTimeout
name: ` + name + `
mesh: default
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: MeshService
        name: ` + service + `
      default:
        connectionTimeout: ` + timeout + `
`
}

// invalidYAML has an unknown resource type on line 2.
const invalidYAML = `# broken on purpose
type: NoSuchKind
name: x
mesh: default
`

// testLog discards logs unless -v.
func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.Until(t, 20*time.Second, what, cond)
}

// startReconciler runs r until the test ends and waits for Run to return.
func startReconciler(t testing.TB, r *Reconciler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func newGitReconciler(t testing.TB, opts GitOptions, ro Options) *Reconciler {
	t.Helper()
	src, err := NewGitSource(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	ro.Source = src
	if ro.Log == nil {
		ro.Log = testLog(t)
	}
	if ro.MinBackoff == 0 {
		ro.MinBackoff = 20 * time.Millisecond
		ro.MaxBackoff = 200 * time.Millisecond
	}
	r, err := New(ro)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func cond(st Status, typ string) Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

func keyOf(typ, mesh, name string) schema.Key { return schema.Key{Type: typ, Mesh: mesh, Name: name} }
