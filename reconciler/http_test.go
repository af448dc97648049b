package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/internal/testenv"
)

// serveAPI starts an api.Server with the reconciler's handlers on loopback.
func serveAPI(t testing.TB, r *Reconciler, reg *prometheus.Registry, secret []byte) string {
	t.Helper()
	srv, err := api.Listen("127.0.0.1:0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if reg == nil {
		reg = srv.Registry
	}
	r.Register(srv.Mux, reg, secret)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + srv.Addr()
}

func getStatus(t testing.TB, base string) Status {
	t.Helper()
	resp, err := http.Get(base + "/bundle")
	if err != nil {
		t.Fatal(err)
	}
	return decodeStatus(t, resp)
}

func decodeStatus(t testing.TB, resp *http.Response) Status {
	t.Helper()
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func postHook(t testing.TB, base string, body []byte, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/hooks/git", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// fetches is the number of fetches the reconciler made, as /metrics reports it.
func fetches(t testing.TB, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "meshc_reconciler_fetch_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// With polling off, only a correctly signed webhook makes the reconciler fetch.
func TestWebhookSignedFetchesUnsignedRejected(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	c1 := repo.CommitPush("one")
	reg := prometheus.NewRegistry()
	r := newGitReconciler(t, GitOptions{URL: repo.Bare}, Options{Poll: 0, Registry: reg})
	secret := []byte("s3cret")
	base := serveAPI(t, r, reg, secret)
	startReconciler(t, r)
	waitFor(t, "initial fetch", func() bool { return getStatus(t, base).Commit == c1 })

	repo.Write(map[string]string{"p.yaml": timeoutPolicy("t", "web", "4s")})
	c2 := repo.CommitPush("two")
	body := []byte(`{"ref":"refs/heads/main","after":"` + c2 + `"}`)
	n0 := fetches(t, reg)
	for _, sig := range []string{"", Sign([]byte("wrong"), body), "sha256=zz", "sha1=" + Sign(secret, body)[7:]} {
		code, msg := postHook(t, base, body, sig)
		if code != http.StatusUnauthorized || !strings.Contains(msg, "signature") {
			t.Fatalf("signature %q: %d %s, want 401", sig, code, msg)
		}
	}
	code, msg := postHook(t, base, body, Sign(secret, body))
	if code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d %s", code, msg)
	}
	waitFor(t, "webhook commit served", func() bool { return getStatus(t, base).Commit == c2 })
	if n := fetches(t, reg) - n0; n != 1 {
		t.Fatalf("%d fetches after four rejected and one accepted webhook, want 1", n)
	}
	st := getStatus(t, base)
	if st.Version == "" || st.Resources != 2 || cond(st, CondReady).Status != "True" {
		t.Fatalf("GET /bundle = %+v", st)
	}
}

// An invalid commit's errors, with positions, reach GET /bundle; ?resources=true has the bundle.
func TestBundleEndpointShowsErrors(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	c1 := repo.CommitPush("one")
	reg := prometheus.NewRegistry()
	r := newGitReconciler(t, GitOptions{URL: repo.Bare}, Options{Registry: reg})
	base := serveAPI(t, r, reg, nil)
	startReconciler(t, r)
	waitFor(t, "applied", func() bool { return getStatus(t, base).Commit == c1 })
	v1 := getStatus(t, base).Version

	repo.Write(map[string]string{"dir/bad.yaml": invalidYAML})
	bad := repo.CommitPush("bad")
	if code, _ := postHook(t, base, []byte("{}"), ""); code != http.StatusAccepted {
		t.Fatalf("unsigned webhook without a secret: %d", code)
	}
	waitFor(t, "bad attempted", func() bool {
		a := getStatus(t, base).LastAttempt
		return a != nil && a.Revision == bad
	})
	st := getStatus(t, base)
	if st.Version != v1 || st.Commit != c1 || len(st.Errors) == 0 {
		t.Fatalf("status %+v", st)
	}
	if e := st.Errors[0]; e.Pos.File != "dir/bad.yaml" || e.Pos.Line == 0 || e.Msg == "" {
		t.Fatalf("error %+v", e)
	}
	for name, want := range map[string]float64{"meshc_reconciler_last_attempt_errors": 1, "meshc_reconciler_ready": 0,
		`meshc_reconciler_failures_total{reason="ValidationFailed"}`: 1, `meshc_reconciler_bundle_info{commit="` + c1 + `",version="` + v1 + `"}`: 1} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	resp, err := http.Get(base + "/bundle?resources=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var full struct {
		Bundle struct {
			Version   string            `json:"version"`
			Resources []json.RawMessage `json:"resources"`
		} `json:"bundle"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&full); err != nil {
		t.Fatal(err)
	}
	if full.Bundle.Version != v1 || len(full.Bundle.Resources) != 1 {
		t.Fatalf("bundle %+v", full.Bundle)
	}
}

// gitHTTPServer serves the bare repos under root with the real git http-backend
// (CGI) behind basic auth, on loopback.
func gitHTTPServer(t testing.TB, root, user, pass string) string {
	t.Helper()
	git := testenv.Binary(t, "git", "git")
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// The remote over HTTP (git http-backend) with basic auth: wrong credentials
// fail with AuthenticationFailed; right ones fetch.
func TestGitOverHTTPWithBasicAuth(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	c1 := repo.CommitPush("one")
	base := gitHTTPServer(t, filepath.Dir(repo.Bare), "alice", "pw")
	url := base + "/remote.git"

	bad := newGitReconciler(t, GitOptions{URL: url, Auth: GitAuth{Username: "alice", Password: "nope"}}, Options{Poll: time.Hour})
	startReconciler(t, bad)
	waitFor(t, "auth failure", func() bool { return bad.Status().Fetch.ConsecutiveFailures > 0 })
	if st := bad.Status(); st.Fetch.LastErrorReason != ReasonAuthFailed || cond(st, CondStalled).Status != "True" || bad.Current() != nil {
		t.Fatalf("wrong password: %+v", st.Fetch)
	}

	r := newGitReconciler(t, GitOptions{URL: url, Auth: GitAuth{Username: "alice", Token: "pw"}}, Options{Poll: 30 * time.Millisecond})
	startReconciler(t, r)
	waitFor(t, "fetched over HTTP", func() bool { b := r.Current(); return b != nil && b.Commit == c1 })
	repo.Write(map[string]string{"p.yaml": timeoutPolicy("t", "web", "4s")})
	c2 := repo.CommitPush("two")
	waitFor(t, "second commit over HTTP", func() bool { return r.Current().Commit == c2 })
	if strings.Contains(r.Status().Source, "pw") {
		t.Fatal("status leaks the password")
	}

	// An HTTP remote nobody listens on: FetchFailed, retried with backoff.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/remote.git"
	ln.Close()
	down := newGitReconciler(t, GitOptions{URL: closed}, Options{Poll: time.Hour})
	startReconciler(t, down)
	waitFor(t, "unreachable remote retried", func() bool { return down.Status().Fetch.ConsecutiveFailures >= 3 })
	if st := down.Status(); st.Fetch.LastErrorReason != ReasonFetchFailed || !strings.Contains(st.Fetch.LastError, "connection refused") ||
		cond(st, CondStalled).Status != "False" || cond(st, CondReconciling).Status != "True" {
		t.Fatalf("unreachable remote: %+v %+v", st.Fetch, st.Conditions)
	}
}

// metricValue reads one series from reg, written as in /metrics: name{label="v",…}.
func metricValue(t testing.TB, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			if name != series {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}
