package cmdtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/reconciler"
)

type gitWork = testenv.GitRepo

func newGitWork(t testing.TB) *gitWork { t.Helper(); return testenv.NewGitRepo(t) }

const globalMesh = "type: Mesh\nname: default\n"

func globalTimeout(name, timeout string) string {
	return "type: MeshTimeout\nname: " + name + "\nmesh: default\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n    - targetRef:\n        kind: MeshService\n        name: web\n      default:\n        connectionTimeout: " + timeout + "\n"
}

// globalProc is a running `meshc global` and the base URL of its API.
type globalProc struct {
	*testenv.Proc
	base string
}

// startGlobal starts meshc global with args and waits for the API address it logs.
func startGlobal(t *testing.T, args ...string) *globalProc {
	t.Helper()
	// The working directory is the test's, so anything written there stays in it.
	p := testenv.StartIn(t, t.TempDir(), "meshc global", testenv.Meshc(t),
		append([]string{"global", "--api-addr", "127.0.0.1:0", "--kds-addr", "127.0.0.1:0"}, args...)...)
	return &globalProc{Proc: p, base: "http://" + p.WaitLog(t, `msg="api listening" addr=(\S+)`, 20*time.Second)}
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
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("meshc global after SIGTERM: %v\n%s", err, p.Output())
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Until(t, 20*time.Second, what, cond)
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
