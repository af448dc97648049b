// Package e2e holds multi-process, multi-zone end-to-end tests: a real
// `meshc global` on a bare Git remote, real `meshc zone` processes joined by
// KDS (TLS, zone tokens), real Envoy sidecars and zone ingresses run by
// `meshc dp run`, and HTTP servers written in the test as applications.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

// meshcBin is the meshc binary, built by TestMain before any test runs.
var meshcBin string

func TestMain(m *testing.M) {
	var err error
	if meshcBin, err = testenv.BuildMeshc(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		testenv.CleanupBuilds()
		os.Exit(2)
	}
	code := m.Run()
	testenv.CleanupBuilds()
	os.Exit(code)
}

// proc is a process started by a test (the shared testenv.Proc) and the test
// it belongs to.
type proc struct {
	*testenv.Proc
	t testing.TB
}

func startProc(t testing.TB, name string, bin string, args ...string) *proc {
	t.Helper()
	return &proc{Proc: testenv.Start(t, name, bin, args...), t: t}
}

func meshc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startProc(t, name, meshcBin, args...)
}

func (p *proc) output() string { return p.Output() }

// stop sends sig and waits (SIGKILL after 15 s).
func (p *proc) stop(sig syscall.Signal) { _ = p.Stop(sig) }

// logged waits up to 90s for output matching re and returns its first submatch.
func (p *proc) logged(re string) string {
	p.t.Helper()
	return p.WaitLog(p.t, re, 90*time.Second)
}

// waitFor polls f until it returns nil or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, what, f)
}

func tail(s string, n int) string { return testenv.Tail(s, n) }

// freeAddr returns a loopback address with a free port, never one it
// returned before in this test binary.
func freeAddr(t testing.TB) string { t.Helper(); return testenv.FreeAddr(t) }

func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func git(t testing.TB, dir string, args ...string) { t.Helper(); testenv.Git(t, dir, args...) }

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// app is an HTTP server answering its name (the instance that served a request).
type app struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

func startApp(t testing.TB, name string) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{name: name, ln: ln, srv: &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})}}
	go func() { _ = a.srv.Serve(ln) }()
	t.Cleanup(func() { _ = a.srv.Close() })
	return a
}

func (a *app) port() int { return a.ln.Addr().(*net.TCPAddr).Port }

// counts sends n GETs to url and counts answers by body ("!<status>" or
// "!error" for failures).
func counts(client *http.Client, url string, n int) map[string]int {
	out := map[string]int{}
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			out["!error"]++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			out[fmt.Sprintf("!%d", resp.StatusCode)]++
			continue
		}
		out[string(b)]++
	}
	return out
}

func failures(c map[string]int) int {
	n := 0
	for k, v := range c {
		if strings.HasPrefix(k, "!") {
			n += v
		}
	}
	return n
}
