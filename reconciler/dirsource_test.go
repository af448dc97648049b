package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
)

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A watched directory: saves (also in new sub-directories) become bundles
// without polling; an invalid save keeps the bundle; subscribers follow.
func TestDirSourceWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mesh.yaml"), meshYAML)
	src, err := NewDirSource(dir, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Source: src, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := r.Subscribe(ctx)
	startReconciler(t, r)

	first := recvBundle(t, sub)
	if len(first.Resources) != 1 || first.Commit != "" {
		t.Fatalf("first bundle %+v", first)
	}
	writeFile(t, filepath.Join(dir, "policies", "new", "t.yaml"), timeoutPolicy("t", "web", "3s"))
	second := recvBundle(t, sub)
	if len(second.Resources) != 2 || second.Version == first.Version {
		t.Fatalf("second bundle %+v", second)
	}

	writeFile(t, filepath.Join(dir, "broken.yaml"), invalidYAML)
	waitFor(t, "invalid save recorded", func() bool { return len(r.Status().Errors) > 0 })
	if r.Current() != second {
		t.Fatal("an invalid save changed the bundle")
	}
	if e := r.Status().Errors[0]; e.Pos.File != filepath.Join(dir, "broken.yaml") {
		t.Fatalf("error at %v, want %s", e.Pos, filepath.Join(dir, "broken.yaml"))
	}

	// Removing the broken file recovers; the content is the same, so the bundle is too.
	if err := os.Remove(filepath.Join(dir, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovered", func() bool { return cond(r.Status(), CondReady).Status == "True" })
	if r.Current() != second || len(r.Status().Errors) != 0 {
		t.Fatal("recovery did not restore the previous bundle")
	}
	select {
	case b := <-sub:
		t.Fatalf("subscriber got an unchanged bundle again: %s", b.Version)
	default:
	}

	cancel()
	if _, ok := <-sub; ok {
		t.Fatal("subscription not closed after its context ended")
	}
}

// recvBundle receives the next bundle or fails the test after a deadline.
func recvBundle(t testing.TB, sub <-chan *compiler.Bundle) *compiler.Bundle {
	t.Helper()
	select {
	case b, ok := <-sub:
		if !ok {
			t.Fatal("subscription closed")
		}
		return b
	case <-time.After(20 * time.Second):
		t.Fatal("no bundle published within 20s")
	}
	return nil
}
