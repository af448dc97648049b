// Package e2e holds multi-process, multi-zone end-to-end tests: a real
// `meshc global` on a bare Git remote, real `meshc zone` processes joined by
// KDS (TLS, zone tokens), real Envoy sidecars and zone ingresses run by
// `meshc dp run`, and HTTP servers written in the test as applications.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

var (
	meshcBin string
	binDir   string
)

func TestMain(m *testing.M) {
	var err error
	binDir, err = os.MkdirTemp("", "meshc-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	meshcBin = filepath.Join(binDir, "meshc")
	cmd := exec.Command("go", "build", "-o", meshcBin, "./cli/meshc")
	cmd.Dir = testenv.ModuleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build meshc: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// proc is a process started by a test; its combined output is kept.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startProc(t testing.TB, name string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("---- %s output (tail) ----\n%s", name, tail(p.output(), 80))
		}
	})
	return p
}

func meshc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startProc(t, name, meshcBin, args...)
}

// stop sends sig and waits (SIGKILL after 15 s).
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logged waits for a line matching re and returns its first submatch.
func (p *proc) logged(re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	var out string
	waitFor(p.t, 90*time.Second, p.name+": "+re, func() error {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited:\n%s", p.name, tail(p.output(), 40))
		default:
		}
		m := rx.FindStringSubmatch(p.output())
		if m == nil {
			return fmt.Errorf("not logged yet")
		}
		out = m[len(m)-1]
		return nil
	})
	return out
}

// waitFor polls f until it returns nil or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// handedOut are the ports freeAddr returned: the kernel may hand a released
// port out again, and two listeners of the test (an Envoy admin and an
// outbound) must not be given the same one.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// freeAddr returns a loopback address with a free port, never one it
// returned before in this test binary.
func freeAddr(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		handedOut.Lock()
		dup := handedOut.ports[addr]
		handedOut.ports[addr] = true
		handedOut.Unlock()
		if !dup {
			return addr
		}
	}
}

func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func git(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

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
