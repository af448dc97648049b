package reconciler

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/schema"
)

// gitRepo is a real bare remote made with the git CLI plus a work tree that
// commits and pushes to it.
type gitRepo struct {
	t    testing.TB
	git  string
	Bare string
	Work string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	g := &gitRepo{t: t, git: testenv.Binary(t, "git", "git")}
	dir := t.TempDir()
	g.Bare = filepath.Join(dir, "remote.git")
	g.Work = filepath.Join(dir, "work")
	g.run(dir, "init", "--quiet", "--bare", "-b", "main", g.Bare)
	g.run(dir, "init", "--quiet", "-b", "main", g.Work)
	g.run(g.Work, "remote", "add", "origin", g.Bare)
	return g
}

func (g *gitRepo) run(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command(g.git, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Git runs git in the work tree.
func (g *gitRepo) Git(args ...string) string { g.t.Helper(); return g.run(g.Work, args...) }

// Write writes files (path → content) into the work tree.
func (g *gitRepo) Write(files map[string]string) {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(g.Work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
}

// Remove deletes a file from the work tree.
func (g *gitRepo) Remove(name string) {
	g.t.Helper()
	if err := os.Remove(filepath.Join(g.Work, name)); err != nil {
		g.t.Fatal(err)
	}
}

// CommitPush commits everything and pushes main; it returns the commit hash.
func (g *gitRepo) CommitPush(msg string) string {
	g.t.Helper()
	g.Git("add", "-A")
	g.Git("commit", "--quiet", "--allow-empty", "-m", msg)
	g.Git("push", "--quiet", "--force", "origin", "main")
	return g.Git("rev-parse", "HEAD")
}

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
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
