package testenv

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcWaitLogAndStop(t *testing.T) {
	t.Parallel()
	sh := Binary(t, "sh", "dash")
	p := Start(t, "sh", sh, "-c", `echo starting; echo 'msg="api listening" addr=127.0.0.1:4242' >&2; exec sleep 30`)
	if got := p.WaitLog(t, `msg="api listening" addr=(\S+)`, 10*time.Second); got != "127.0.0.1:4242" {
		t.Errorf("WaitLog = %q, want the first submatch 127.0.0.1:4242", got)
	}
	if got := p.WaitLog(t, `start\w+`, time.Second); got != "starting" {
		t.Errorf("WaitLog without a group = %q, want the whole match", got)
	}
	err := p.Stop(syscall.SIGTERM)
	if err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Stop(SIGTERM) = %v, want the exit by signal", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if out := p.Output(); !strings.Contains(out, "starting\n") || !strings.Contains(out, "addr=127.0.0.1:4242") {
		t.Errorf("Output lacks stdout or stderr: %q", out)
	}
	if err2 := p.Stop(syscall.SIGTERM); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Stop = %v, want the same exit %v", err2, err)
	}
}

func TestStartInRunsInDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := StartIn(t, dir, "pwd", Binary(t, "sh", "dash"), "-c", "pwd")
	<-p.Done()
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("pwd exited with %v", err)
	}
	if got := strings.TrimSpace(p.Output()); got != dir {
		t.Errorf("working directory %q, want %q", got, dir)
	}
}

func TestFreeAddrIsListenable(t *testing.T) {
	t.Parallel()
	addr := FreeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr %s: %v", addr, err)
	}
	ln.Close()
}

func TestEventuallyRetriesUntilNil(t *testing.T) {
	t.Parallel()
	calls := 0
	Eventually(t, 10*time.Second, "third call", func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("f called %d times, want 3", calls)
	}
}

func TestGitRepoCommitPush(t *testing.T) {
	t.Parallel()
	g := NewGitRepo(t)
	g.Write(map[string]string{"mesh/a.yaml": "a: 1\n"})
	h := g.CommitPush("add a")
	if remote := Git(t, g.Bare, "rev-parse", "main"); remote != h {
		t.Errorf("remote main %s, want the pushed %s", remote, h)
	}
	if who := g.Git("log", "-1", "--format=%an <%ae> / %cn <%ce>"); who != "Test <test@example.com> / Test <test@example.com>" {
		t.Errorf("commit identity %q, want the fixed test identity", who)
	}
	g.Remove("mesh/a.yaml")
	if files := g.Git("ls-tree", "-r", "--name-only", g.Commit("drop a")); files != "" {
		t.Errorf("files after Remove+Commit: %q, want none", files)
	}
}

func TestFreePortNeverRepeats(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}
