package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
)

// A commit pushed to the remote becomes the bundle through polling alone.
func TestGitPollAppliesPushes(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML, "policies/timeout.yaml": timeoutPolicy("t1", "web", "5s")})
	c1 := repo.CommitPush("first")

	r := newGitReconciler(t, GitOptions{URL: repo.Bare, Ref: "main"}, Options{Poll: 50 * time.Millisecond})
	startReconciler(t, r)
	waitFor(t, "first commit applied", func() bool { b := r.Current(); return b != nil && b.Commit == c1 })
	v1 := r.Current().Version
	if n := len(r.Current().Resources); n != 2 {
		t.Fatalf("bundle has %d resources, want 2", n)
	}

	repo.Write(map[string]string{"policies/timeout.yaml": timeoutPolicy("t1", "web", "9s")})
	c2 := repo.CommitPush("second")
	waitFor(t, "second commit applied", func() bool { b := r.Current(); return b != nil && b.Commit == c2 })
	if r.Current().Version == v1 {
		t.Fatalf("content changed but version stayed %s", v1)
	}
	st := r.Status()
	if c := cond(st, CondReady); c.Status != "True" || c.Reason != ReasonSucceeded {
		t.Fatalf("Ready = %+v, want True/Succeeded", c)
	}
	if st.LastAttempt == nil || st.LastAttempt.Result != ResultApplied || st.LastAttempt.Revision != c2 {
		t.Fatalf("last attempt = %+v", st.LastAttempt)
	}
}

// A sub-path and a tag select what is loaded; files outside the path are ignored.
func TestGitTagAndSubPath(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{
		"mesh/mesh.yaml":   meshYAML,
		"other/junk.yaml":  invalidYAML, // outside --path: never read
		"mesh/policy.yaml": timeoutPolicy("t1", "web", "5s"),
	})
	c1 := repo.CommitPush("first")
	repo.Git("tag", "-a", "v1", "-m", "release 1")
	repo.Git("push", "--quiet", "origin", "v1")
	repo.Write(map[string]string{"mesh/policy.yaml": timeoutPolicy("t1", "web", "7s")})
	repo.CommitPush("after the tag")

	r := newGitReconciler(t, GitOptions{URL: "file://" + repo.Bare, Ref: "v1", Path: "mesh"}, Options{Poll: time.Hour})
	startReconciler(t, r)
	waitFor(t, "tag applied", func() bool { b := r.Current(); return b != nil })
	if got := r.Current().Commit; got != c1 {
		t.Fatalf("bundle commit %s, want the tagged commit %s", got, c1)
	}

	// A path that does not exist is an error naming it, not an empty mesh.
	r2 := newGitReconciler(t, GitOptions{URL: repo.Bare, Ref: "main", Path: "nope"}, Options{Poll: time.Hour})
	startReconciler(t, r2)
	waitFor(t, "attempt recorded", func() bool { return r2.Status().LastAttempt != nil })
	st := r2.Status()
	if r2.Current() != nil || len(st.Errors) == 0 || !strings.Contains(st.Errors[0].Msg, `"nope" not found`) {
		t.Fatalf("missing path: bundle %v, errors %+v", r2.Current(), st.Errors)
	}
}

// An invalid commit is recorded with positions and changes nothing served; a
// fix recovers; a force-push that rewrites history is followed.
func TestGitInvalidCommitThenFixThenForcePush(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	good := repo.CommitPush("good")

	r := newGitReconciler(t, GitOptions{URL: repo.Bare}, Options{Poll: 30 * time.Millisecond})
	sub := r.Subscribe(context.Background())
	startReconciler(t, r)
	waitFor(t, "good commit", func() bool { b := r.Current(); return b != nil && b.Commit == good })
	before := r.Current()

	repo.Write(map[string]string{"bad.yaml": invalidYAML})
	bad := repo.CommitPush("bad")
	waitFor(t, "bad commit attempted", func() bool {
		a := r.Status().LastAttempt
		return a != nil && a.Revision == bad
	})
	st := r.Status()
	if r.Current() != before {
		t.Fatalf("bundle changed after an invalid commit: %s → %s", before.Version, r.Current().Version)
	}
	if st.LastAttempt.Result != ResultInvalid || len(st.Errors) == 0 {
		t.Fatalf("attempt %+v errors %+v", st.LastAttempt, st.Errors)
	}
	if e := st.Errors[0]; e.Pos.File != "bad.yaml" || e.Pos.Line == 0 {
		t.Fatalf("error %v: want a position in bad.yaml", e)
	}
	if c := cond(st, CondReady); c.Status != "False" || c.Reason != ReasonValidationFailed || !strings.Contains(c.Message, before.Version) {
		t.Fatalf("Ready = %+v", c)
	}
	if c := cond(st, CondStalled); c.Status != "True" {
		t.Fatalf("Stalled = %+v", c)
	}
	if st.Version != before.Version || st.Commit != good {
		t.Fatalf("status serves %s@%s, want %s@%s", st.Version, st.Commit, before.Version, good)
	}

	repo.Remove("bad.yaml")
	repo.Write(map[string]string{"p.yaml": timeoutPolicy("t", "web", "1s")})
	fixed := repo.CommitPush("fix")
	waitFor(t, "fix applied", func() bool { return r.Current().Commit == fixed })
	st = r.Status()
	if c := cond(st, CondReady); c.Status != "True" || len(st.Errors) != 0 {
		t.Fatalf("after the fix: Ready %+v errors %+v", c, st.Errors)
	}

	// Rewrite history: drop the last two commits and push another one over them.
	repo.Git("reset", "--quiet", "--hard", good)
	repo.Write(map[string]string{"rewritten.yaml": timeoutPolicy("r", "api", "3s")})
	rewritten := repo.CommitPush("rewritten")
	waitFor(t, "rewritten history applied", func() bool { return r.Current().Commit == rewritten })
	if r.Current().Find(keyOf("MeshTimeout", "default", "t")) != nil {
		t.Fatal("policy from the dropped commit is still in the bundle")
	}

	// The subscriber saw the good, fixed and rewritten bundles, never the bad one (it skips to the newest).
	var last *compiler.Bundle
	for len(sub) > 0 {
		last = <-sub
	}
	if last == nil || last.Commit != rewritten {
		t.Fatalf("subscriber's newest bundle = %v, want commit %s", last, rewritten)
	}
}

// A deleted branch stalls the source and keeps the bundle; so does an unreachable remote.
func TestGitBranchDeletedAndRemoteUnreachable(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	repo.CommitPush("main")
	repo.Git("checkout", "--quiet", "-b", "prod")
	repo.Git("commit", "--quiet", "--allow-empty", "-m", "prod")
	repo.Git("push", "--quiet", "origin", "prod")
	repo.Git("checkout", "--quiet", "main")

	r := newGitReconciler(t, GitOptions{URL: repo.Bare, Ref: "prod"}, Options{Poll: 30 * time.Millisecond})
	startReconciler(t, r)
	waitFor(t, "prod applied", func() bool { return r.Current() != nil })
	kept := r.Current()

	repo.Git("push", "--quiet", "origin", "--delete", "prod")
	waitFor(t, "RefNotFound", func() bool { return r.Status().Fetch.LastErrorReason == ReasonRefNotFound })
	st := r.Status()
	if r.Current() != kept || st.Version != kept.Version {
		t.Fatal("bundle changed after the branch was deleted")
	}
	if c := cond(st, CondStalled); c.Status != "True" || c.Reason != ReasonRefNotFound || !strings.Contains(c.Message, `"prod"`) {
		t.Fatalf("Stalled = %+v", c)
	}
	if c := cond(st, CondReady); c.Status != "False" {
		t.Fatalf("Ready = %+v", c)
	}

	// The remote disappears altogether: fetch failures pile up with growing backoff.
	if err := os.RemoveAll(repo.Bare); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "repeated fetch failures", func() bool {
		f := r.Status().Fetch
		return f.LastErrorReason == ReasonFetchFailed && f.ConsecutiveFailures >= 4
	})
	st = r.Status()
	if st.Fetch.NextRetry == nil || st.Fetch.LastError == "" || r.Current() != kept {
		t.Fatalf("fetch status %+v", st.Fetch)
	}
	if c := cond(st, CondReconciling); c.Status != "True" || c.Reason != ReasonFetchFailed {
		t.Fatalf("Reconciling = %+v", c)
	}
}

// The state dir keeps the last good bundle: a restart with the remote gone serves it at once.
func TestGitRestartServesPersistedBundle(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML, "p.yaml": timeoutPolicy("t", "web", "2s")})
	c := repo.CommitPush("one")
	state := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	r1 := newGitReconciler(t, GitOptions{URL: repo.Bare, StorageDir: filepath.Join(state, "git")}, Options{StateDir: state, Poll: time.Hour})
	done := make(chan struct{})
	go func() { defer close(done); _ = r1.Run(ctx) }()
	waitFor(t, "applied", func() bool { return r1.Current() != nil })
	want := r1.Current()
	cancel()
	<-done

	if err := os.RemoveAll(repo.Bare); err != nil {
		t.Fatal(err)
	}
	r2 := newGitReconciler(t, GitOptions{URL: repo.Bare, StorageDir: filepath.Join(state, "git")}, Options{StateDir: state, Poll: time.Hour})
	got := r2.Current() // before Run: served from the state dir
	if got == nil || got.Version != want.Version || got.Commit != c || len(got.Resources) != len(want.Resources) {
		t.Fatalf("restored bundle %+v, want version %s commit %s", got, want.Version, c)
	}
	if st := r2.Status(); !st.Restored || cond(st, CondReady).Reason != ReasonRestored {
		t.Fatalf("status after restore: %+v", st)
	}
	startReconciler(t, r2)
	waitFor(t, "fetch failure", func() bool { return r2.Status().Fetch.ConsecutiveFailures > 0 })
	if b := r2.Current(); b == nil || b.Version != want.Version {
		t.Fatal("persisted bundle dropped after a failed fetch")
	}
}

// Fetches leave one packfile each; past the limit they are repacked into one,
// and the source keeps following the remote.
func TestGitRepacksFetchedObjects(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	repo.CommitPush("one")
	storage := filepath.Join(t.TempDir(), "git")
	src, err := NewGitSource(GitOptions{URL: repo.Bare, StorageDir: storage})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.repackAfter = 3
	packs := func() int {
		m, _ := filepath.Glob(filepath.Join(storage, "objects", "pack", "*.pack"))
		return len(m)
	}
	for i := 0; i < 7; i++ {
		repo.Write(map[string]string{"p.yaml": timeoutPolicy("t", "web", fmt.Sprintf("%ds", i+1))})
		c := repo.CommitPush("change")
		snap, err := src.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if snap.Revision != c {
			t.Fatalf("fetched %s, want %s", snap.Revision, c)
		}
		if rs, errs := snap.Load(); errs.HasErrors() || len(rs) != 2 {
			t.Fatalf("load after fetch %d: %d resources, %v", i, len(rs), errs)
		}
		if n := packs(); n > 3 {
			t.Fatalf("%d packfiles after fetch %d, want ≤ 3", n, i)
		}
	}
}
