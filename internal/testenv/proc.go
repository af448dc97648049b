package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopWait bounds how long Stop waits for a signalled process before killing it.
const stopWait = 15 * time.Second

// Proc is a process started by a test. Its stdout and stderr are kept for
// assertions and the tail is logged when the test fails.
type Proc struct {
	Name string

	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error // how the process exited; set before done closes
}

// Start runs bin with args in the test's working directory until the test
// ends; see StartIn.
func Start(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	return StartIn(t, "", name, bin, args...)
}

// StartIn runs bin with args in dir ("" for the current directory). When the
// test ends the process gets SIGTERM (Stop), a data race it reported fails
// the test, and a failed test logs the tail of its output.
func StartIn(t testing.TB, dir, name, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, t: t, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = (*procWriter)(p), (*procWriter)(p)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.Stop(syscall.SIGTERM)
		if strings.Contains(p.Output(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", name)
		}
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, Tail(p.Output(), 80))
		}
	})
	return p
}

type procWriter Proc

func (w *procWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(b)
}

// Output returns everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends sig unless the process already exited, and returns how it exited.
// A process still running 15s after the signal is killed and fails the test.
func (p *Proc) Stop(sig syscall.Signal) error { return p.StopWithin(sig, stopWait) }

// StopWithin is Stop waiting up to wait.
func (p *Proc) StopWithin(sig syscall.Signal, wait time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		err := fmt.Errorf("%s did not stop within %v of %v", p.Name, wait, sig)
		p.t.Error(err)
		return err
	}
}

// WaitLog waits until the output matches the regexp re and returns its first
// submatch (the whole match if re has no group). It fails the test when the
// process exits first or timeout passes.
func (p *Proc) WaitLog(t testing.TB, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(p.Output()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) while waiting for %q:\n%s", p.Name, p.err, re, Tail(p.Output(), 40))
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s: no %q within %v:\n%s", p.Name, re, timeout, Tail(p.Output(), 40))
	return ""
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// handedOut are the ports FreePort returned: the kernel may hand a released
// port out again, and two listeners of a test (an Envoy admin and an
// outbound) must not be given the same one.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a loopback TCP port that was free a moment ago (the probe
// listener is closed before returning) and that FreePort never returned
// before in this test process.
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		handedOut.Lock()
		dup := handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if !dup {
			return port
		}
	}
}

// FreeAddr is FreePort as an address, "127.0.0.1:PORT".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// Eventually polls f every 20ms until it returns nil, failing the test with
// f's last error when timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
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
		time.Sleep(20 * time.Millisecond)
	}
}

// Until is Eventually for a condition without an error to report.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = fmt.Errorf("condition not met")

// env is the environment of a child process: this one's plus extra.
func env(extra ...string) []string { return append(os.Environ(), extra...) }
