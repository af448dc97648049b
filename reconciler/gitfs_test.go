package reconciler

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/meshc/meshc/schema"
)

// TreeFS behaves as an fs.FS (checked by testing/fstest) over a real commit.
func TestTreeFSConformsToFS(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML, "a/b/c.yaml": "x: 1\n", "a/d.json": "{}"})
	c := repo.CommitPush("one")
	gr, err := git.PlainOpen(repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := gr.CommitObject(plumbing.NewHash(c))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := CommitFS(gr, commit, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "mesh.yaml", "a/b/c.yaml", "a/d.json"); err != nil {
		t.Fatal(err)
	}
	sub, err := CommitFS(gr, commit, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(sub, "b/c.yaml"); err != nil || string(b) != "x: 1\n" {
		t.Fatalf("sub-path read: %q %v", b, err)
	}
}

// A 50 MB file is refused from its object header, without reading it, and a
// symbolic link pointing out of the tree is never followed: both make the
// commit invalid with an error naming the file, and nothing served changes.
func TestGitLargeFileAndSymlinkOutOfTree(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	good := repo.CommitPush("good")
	r := newGitReconciler(t, GitOptions{URL: repo.Bare}, Options{Poll: 30 * time.Millisecond})
	startReconciler(t, r)
	waitFor(t, "good applied", func() bool { b := r.Current(); return b != nil && b.Commit == good })
	kept := r.Current()

	// 50 MB of valid-looking YAML comments plus a 50 MB binary the loader ignores.
	line := "# " + strings.Repeat("x", 97) + "\n"
	big := strings.Repeat(line, 50<<20/len(line))
	repo.Write(map[string]string{"big.yaml": big, "assets/blob.bin": big})
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	bigCommit := repo.CommitPush("big")
	waitFor(t, "big commit attempted", func() bool { a := r.Status().LastAttempt; return a != nil && a.Revision == bigCommit })
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	t.Logf("allocated %d MB while fetching and loading a commit with two 50 MB files", (ms1.TotalAlloc-ms0.TotalAlloc)>>20)
	st := r.Status()
	if r.Current() != kept || len(st.Errors) != 1 || st.Errors[0].Pos.File != "big.yaml" || !tooLarge.MatchString(st.Errors[0].Error()) {
		t.Fatalf("big file: errors %+v", st.Errors)
	}

	repo.Remove("big.yaml")
	if err := os.Symlink("../../../../../../etc/passwd", filepath.Join(repo.Work, "evil.yaml")); err != nil {
		t.Fatal(err)
	}
	linkCommit := repo.CommitPush("symlink")
	waitFor(t, "symlink commit attempted", func() bool { a := r.Status().LastAttempt; return a != nil && a.Revision == linkCommit })
	st = r.Status()
	if r.Current() != kept || len(st.Errors) != 1 || st.Errors[0].Pos.File != "evil.yaml" || !strings.Contains(st.Errors[0].Error(), "outside the repository") {
		t.Fatalf("symlink: errors %+v", st.Errors)
	}
}

var tooLarge = regexp.MustCompile(`(?i)too large|limit`)

// Opening a link or an oversized blob through TreeFS fails with typed errors.
func TestTreeFSRefusesLinksAndLargeBlobs(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"small.yaml": "a: 1\n", "large.yaml": strings.Repeat("#\n", 600)})
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.Work, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	c := repo.CommitPush("one")
	gr, err := git.PlainOpen(repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	commit, _ := gr.CommitObject(plumbing.NewHash(c))
	fsys, err := CommitFS(gr, commit, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadFile(fsys, "large.yaml"); !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("large: %v", err)
	}
	if _, err := fs.ReadFile(fsys, "link.yaml"); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("link: %v", err)
	}
	info, err := fs.Stat(fsys, "link.yaml")
	if err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link stat: %v %v", info, err)
	}
	if info, err := fs.Stat(fsys, "large.yaml"); err != nil || info.Size() != 1200 {
		t.Fatalf("large stat: %v %v", info, err)
	}
	if _, err := fsys.Open("missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

// A link inside the tree is read through ReadLink and resolved by the loader
// like on disk; one leaving the tree is an error naming the link.
func TestTreeFSLinksThroughLoader(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"real/mesh.yaml": meshYAML})
	if err := os.Symlink("real/mesh.yaml", filepath.Join(repo.Work, "alias.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside.yaml", filepath.Join(repo.Work, "real", "escape.yaml")); err != nil {
		t.Fatal(err)
	}
	c := repo.CommitPush("links")
	gr, err := git.PlainOpen(repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	commit, _ := gr.CommitObject(plumbing.NewHash(c))
	fsys, err := CommitFS(gr, commit, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := fsys.ReadLink("alias.yaml"); err != nil || target != "real/mesh.yaml" {
		t.Fatalf("ReadLink: %q %v", target, err)
	}
	rs, errs := schema.LoadFS(fsys, ".", "")
	if len(rs) != 2 || len(errs) != 1 || errs[0].Pos.File != "real/escape.yaml" || !strings.Contains(errs[0].Msg, "outside") {
		t.Fatalf("resources %d, diagnostics %v", len(rs), errs)
	}
}
