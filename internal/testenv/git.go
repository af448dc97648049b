package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitEnv isolates git from the user's and system's configuration and fixes
// the author and committer, so commits do not depend on who runs the tests.
var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
	"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
	"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
}

// Git runs the git CLI with args in dir and returns its trimmed output,
// failing the test (with the output) when git fails or is missing.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Binary(t, "git", "git"), args...)
	cmd.Dir = dir
	cmd.Env = env(gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// GitRepo is a real bare remote (Bare) plus a work tree (Work) that commits
// and pushes main to it, made with the git CLI.
type GitRepo struct {
	t          testing.TB
	Bare, Work string
}

// NewGitRepo makes an empty bare remote and work tree under t.TempDir().
func NewGitRepo(t testing.TB) *GitRepo {
	t.Helper()
	dir := t.TempDir()
	g := &GitRepo{t: t, Bare: filepath.Join(dir, "remote.git"), Work: filepath.Join(dir, "work")}
	Git(t, dir, "init", "--quiet", "--bare", "-b", "main", g.Bare)
	Git(t, dir, "init", "--quiet", "-b", "main", g.Work)
	Git(t, g.Work, "remote", "add", "origin", g.Bare)
	return g
}

// Git runs git in the work tree.
func (g *GitRepo) Git(args ...string) string { g.t.Helper(); return Git(g.t, g.Work, args...) }

// Write writes files (slash path relative to the work tree → content).
func (g *GitRepo) Write(files map[string]string) {
	g.t.Helper()
	for name, content := range files {
		p := filepath.Join(g.Work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
}

// Remove deletes a file from the work tree.
func (g *GitRepo) Remove(name string) {
	g.t.Helper()
	if err := os.Remove(filepath.Join(g.Work, filepath.FromSlash(name))); err != nil {
		g.t.Fatal(err)
	}
}

// Commit commits everything in the work tree (even nothing) and returns the hash.
func (g *GitRepo) Commit(msg string) string {
	g.t.Helper()
	g.Git("add", "-A")
	g.Git("commit", "--quiet", "--allow-empty", "-m", msg)
	return g.Git("rev-parse", "HEAD")
}

// CommitPush commits everything, force-pushes main and returns the commit hash.
func (g *GitRepo) CommitPush(msg string) string {
	g.t.Helper()
	h := g.Commit(msg)
	g.Git("push", "--quiet", "--force", "origin", "main")
	return h
}
