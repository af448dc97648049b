package cmdtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/reconciler"
)

// gitWork is a bare remote plus a work tree that pushes to it, made with the git CLI.
type gitWork struct {
	t          testing.TB
	git        string
	Bare, Work string
}

func newGitWork(t testing.TB) *gitWork {
	t.Helper()
	g := &gitWork{t: t, git: testenv.Binary(t, "git", "git")}
	dir := t.TempDir()
	g.Bare, g.Work = filepath.Join(dir, "remote.git"), filepath.Join(dir, "work")
	g.run(dir, "init", "--quiet", "--bare", "-b", "main", g.Bare)
	g.run(dir, "init", "--quiet", "-b", "main", g.Work)
	g.run(g.Work, "remote", "add", "origin", g.Bare)
	return g
}

func (g *gitWork) run(dir string, args ...string) string {
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

func (g *gitWork) Git(args ...string) string { g.t.Helper(); return g.run(g.Work, args...) }

func (g *gitWork) Write(files map[string]string) {
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

// Commit commits everything in the work tree and returns the hash.
func (g *gitWork) Commit(msg string) string {
	g.t.Helper()
	g.Git("add", "-A")
	g.Git("commit", "--quiet", "--allow-empty", "-m", msg)
	return g.Git("rev-parse", "HEAD")
}

// CommitPush commits and pushes main.
func (g *gitWork) CommitPush(msg string) string {
	g.t.Helper()
	h := g.Commit(msg)
	g.Git("push", "--quiet", "--force", "origin", "main")
	return h
}

const globalMesh = "type: Mesh\nname: default\n"

func globalTimeout(name, timeout string) string {
	return "type: MeshTimeout\nname: " + name + "\nmesh: default\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n    - targetRef:\n        kind: MeshService\n        name: web\n      default:\n        connectionTimeout: " + timeout + "\n"
}

// globalProc is a running `meshc global`.
type globalProc struct {
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer
	exited chan error
}

var listenRE = regexp.MustCompile(`msg="api listening" addr=(\S+)`)

// startGlobal starts meshc global with args and waits for the API address it logs.
func startGlobal(t *testing.T, args ...string) *globalProc {
	t.Helper()
	cmd := exec.Command(meshcBin, append([]string{"global", "--api-addr", "127.0.0.1:0", "--kds-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir() // anything written to the working directory stays in the test's
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &globalProc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { err := cmd.Wait(); pw.Close(); p.exited <- err }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-p.exited:
		t.Fatalf("meshc global exited at start: %v\n%s", err, p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("meshc global did not log its address\n%s", p.stderr)
	}
	return p
}

func (p *globalProc) status(t *testing.T) reconciler.Status {
	t.Helper()
	resp, err := http.Get(p.base + "/bundle")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st reconciler.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// stop sends SIGTERM and waits for a clean exit.
func (p *globalProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("meshc global after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("meshc global did not exit within 15s of SIGTERM\n%s", p.stderr)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// meshc global as a real process: Git remote, signed webhook, metrics,
// SIGTERM, then a restart with the remote gone that serves the persisted bundle.
func TestGlobalProcessFollowsGitAndRestartsFromState(t *testing.T) {
	t.Parallel()
	repo := newGitWork(t)
	repo.Write(map[string]string{"mesh/mesh.yaml": globalMesh})
	c1 := repo.CommitPush("one")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("hush\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startGlobal(t, "--git", repo.Bare, "--path", "mesh", "--poll", "0", "--state-dir", state, "--webhook-secret-file", secretFile)
	eventually(t, "first commit served", func() bool { return p.status(t).Commit == c1 })
	v1 := p.status(t).Version

	repo.Write(map[string]string{"mesh/t.yaml": globalTimeout("t", "2s")})
	c2 := repo.CommitPush("two")
	body := []byte(`{"ref":"refs/heads/main"}`)
	for _, tc := range []struct {
		sig  string
		code int
	}{{reconciler.Sign([]byte("hush!"), body), 401}, {reconciler.Sign([]byte("hush"), body), 202}} {
		req, _ := http.NewRequest("POST", p.base+"/hooks/git", bytes.NewReader(body))
		req.Header.Set(reconciler.SignatureHeader, tc.sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Fatalf("webhook with %s: %d, want %d", tc.sig, resp.StatusCode, tc.code)
		}
	}
	eventually(t, "webhook commit served", func() bool { return p.status(t).Commit == c2 })
	st := p.status(t)
	if st.Version == v1 || st.Resources != 2 {
		t.Fatalf("after the push: %+v", st)
	}
	v2 := st.Version
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"meshc_reconciler_last_applied_timestamp_seconds", `meshc_reconciler_attempts_total{result="Applied"} 2`,
		"meshc_reconciler_fetch_duration_seconds_count", "meshc_reconciler_compile_duration_seconds_count", `meshc_reconciler_webhooks_total{result="bad_signature"} 1`,
		`meshc_reconciler_bundle_info{commit="` + c2 + `",version="` + v2 + `"} 1`, "meshc_reconciler_last_attempt_errors 0"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	p.stop(t)

	// The remote is gone; a restarted global serves the persisted bundle at once.
	if err := os.RemoveAll(repo.Bare); err != nil {
		t.Fatal(err)
	}
	p2 := startGlobal(t, "--git", repo.Bare, "--path", "mesh", "--poll", "1h", "--state-dir", state)
	st = p2.status(t)
	if st.Version != v2 || st.Commit != c2 {
		t.Fatalf("restarted global serves %q (commit %q), want the persisted bundle of %s", st.Version, st.Commit, c2)
	}
	eventually(t, "fetch failure reported", func() bool { return p2.status(t).Fetch.ConsecutiveFailures > 0 })
	st = p2.status(t)
	if st.Commit != c2 || !st.Restored {
		t.Fatalf("after a failed fetch: %+v", st)
	}
	p2.stop(t)
}

// Bad flags: a clear message and exit 2, nothing started.
func TestGlobalFlagErrors(t *testing.T) {
	t.Parallel()
	r := run(t, t.TempDir(), "global", "--api-addr", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, "--git URL or --dir DIR") {
		t.Fatalf("no source: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, t.TempDir(), "global", "--dir", "/nonexistent/dir", "--api-addr", "127.0.0.1:0")
	if r.code == 0 || !strings.Contains(r.stderr, "/nonexistent/dir") {
		t.Fatalf("missing dir: exit %d, stderr %q", r.code, r.stderr)
	}
}

// meshc global --dir: a saved edit becomes the served bundle; an invalid save is reported and changes nothing.
func TestGlobalProcessWatchesDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"mesh.yaml": globalMesh})
	p := startGlobal(t, "--dir", dir)
	eventually(t, "first bundle", func() bool { return p.status(t).Version != "" })
	v1 := p.status(t).Version
	writeFiles(t, dir, map[string]string{"t.yaml": globalTimeout("t", "2s")})
	eventually(t, "edit served", func() bool { st := p.status(t); return st.Version != v1 && st.Resources == 2 })
	v2 := p.status(t).Version
	writeFiles(t, dir, map[string]string{"t.yaml": "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  targetRef:\n    kind: Nope\n"})
	eventually(t, "invalid save reported", func() bool { return len(p.status(t).Errors) > 0 })
	if st := p.status(t); st.Version != v2 || !strings.Contains(st.Errors[0].Pos.File, "t.yaml") {
		t.Fatalf("after an invalid save: %+v", st)
	}
	// The web UI shows the version still served and the invalid save's error at its place.
	page := httpGetBody(t, p.base+"/")
	for _, want := range []string{v2, "t.yaml:6:", "Stalled", "Mesh default"} {
		if !strings.Contains(page, want) {
			t.Errorf("web UI lacks %q:\n%s", want, page)
		}
	}
	if meshes := httpGetBody(t, p.base+"/meshes"); !strings.Contains(meshes, `"name": "default"`) {
		t.Errorf("GET /meshes: %s", meshes)
	}
	p.stop(t)
}

func httpGetBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return string(b)
}
