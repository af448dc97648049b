package reconciler

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/meshc/meshc/internal/testenv"
)

// sshGitServer is a real SSH server on loopback (golang.org/x/crypto/ssh)
// that accepts one client key and runs the real git-upload-pack for
// `git-upload-pack '<path>'` exec requests, as a Git host does.
type sshGitServer struct {
	Addr    string
	HostKey ssh.PublicKey
	ln      net.Listener
	wg      sync.WaitGroup
}

func newSSHGitServer(t testing.TB, clientKey ssh.PublicKey) *sshGitServer {
	t.Helper()
	git := testGit(t)
	uploadPack := filepath.Join(gitExecPath(t, git), "git-upload-pack")
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), clientKey.Marshal()) {
			return nil, nil
		}
		return nil, io.ErrUnexpectedEOF
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{Addr: ln.Addr().String(), HostKey: hostSigner.PublicKey(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); serveSSHConn(c, cfg, uploadPack) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func serveSSHConn(c net.Conn, cfg *ssh.ServerConfig, uploadPack string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range chReqs {
			if req.Type != "exec" || len(req.Payload) < 4 {
				_ = req.Reply(false, nil)
				continue
			}
			cmdline := string(req.Payload[4:])
			repo, ok := strings.CutPrefix(cmdline, "git-upload-pack ")
			if !ok {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			cmd := exec.Command(uploadPack, strings.Trim(repo, "'"))
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			code := uint32(0)
			if err := cmd.Run(); err != nil {
				code = 1
			}
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, code)
			_, _ = ch.SendRequest("exit-status", false, status)
			ch.Close()
			break
		}
	}
}

func testGit(t testing.TB) string { t.Helper(); return testenv.Binary(t, "git", "git") }

func gitExecPath(t testing.TB, git string) string {
	t.Helper()
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// writeKey writes an OpenSSH private key file and returns its public key.
func writeKey(t testing.TB, dir string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, sp
}

// The remote over SSH with a key file, the server checked against known_hosts:
// a known host fetches; an unknown host key is refused and nothing is served.
func TestGitOverSSHWithKnownHosts(t *testing.T) {
	t.Parallel()
	repo := newGitRepo(t)
	repo.Write(map[string]string{"mesh.yaml": meshYAML})
	c1 := repo.CommitPush("one")
	dir := t.TempDir()
	keyFile, pub := writeKey(t, dir)
	srv := newSSHGitServer(t, pub)
	url := "ssh://git@" + srv.Addr + repo.Bare

	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(knownhosts.Line([]string{srv.Addr}, srv.HostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newGitReconciler(t, GitOptions{URL: url, Auth: GitAuth{SSHKeyFile: keyFile, KnownHostsFile: known}}, Options{Poll: time.Hour})
	startReconciler(t, r)
	waitFor(t, "fetched over SSH", func() bool { b := r.Current(); return b != nil && b.Commit == c1 })

	// A known_hosts that lists another key for this host: the connection is refused.
	_, otherPub := writeKey(t, t.TempDir())
	wrong := filepath.Join(dir, "known_hosts_wrong")
	if err := os.WriteFile(wrong, []byte(knownhosts.Line([]string{srv.Addr}, otherPub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := newGitReconciler(t, GitOptions{URL: url, Auth: GitAuth{SSHKeyFile: keyFile, KnownHostsFile: wrong}}, Options{Poll: time.Hour})
	startReconciler(t, bad)
	waitFor(t, "host key refused", func() bool { return bad.Status().Fetch.ConsecutiveFailures > 0 })
	if st := bad.Status(); bad.Current() != nil || !strings.Contains(st.Fetch.LastError, "key") {
		t.Fatalf("wrong host key: %+v", st.Fetch)
	}
}

// Credentials that do not fit the URL's scheme are refused up front.
func TestGitAuthMismatch(t *testing.T) {
	t.Parallel()
	keyFile, _ := writeKey(t, t.TempDir())
	for _, tc := range []struct {
		url  string
		auth GitAuth
		want string
	}{
		{"https://example.com/r.git", GitAuth{SSHKeyFile: keyFile}, "SSH key"},
		{"ssh://git@example.com/r.git", GitAuth{Token: "t"}, "SSH key file"},
		{"ssh://git@example.com/r.git", GitAuth{}, "--ssh-key-file"},
		{"/tmp/r.git", GitAuth{Username: "u", Password: "p"}, "local repository"},
		{"ssh://git@example.com/r.git", GitAuth{SSHKeyFile: "/nonexistent/key"}, "/nonexistent/key"},
	} {
		_, err := NewGitSource(GitOptions{URL: tc.url, Auth: tc.auth})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want an error mentioning %q", tc.url, tc.auth, err, tc.want)
		}
	}
}
