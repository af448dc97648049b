package xds

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/pki"
)

func TestBootstrapValidatesWithEnvoy(t *testing.T) {
	t.Parallel()
	envoy := testenv.Envoy(t)
	srv, err := pki.SelfSigned([]string{"127.0.0.1"}, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]BootstrapOptions{
		"dev": {Mesh: "default", Name: "web-1", Cluster: "web", XDSAddress: "127.0.0.1:5678"},
		"tls": {Mesh: "default", Name: "web-1", XDSAddress: "127.0.0.1:5678", TLS: true, CACertPEM: srv.CertPEM, Token: "abc.def",
			AdminAddress: "127.0.0.1:19901", Metadata: map[string]string{"version": "v1"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			js, err := BootstrapJSON(o)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Node struct {
					ID string `json:"id"`
				} `json:"node"`
			}
			if err := json.Unmarshal(js, &m); err != nil || m.Node.ID != "default.web-1" {
				t.Fatalf("node id = %q (%v), want default.web-1", m.Node.ID, err)
			}
			p := filepath.Join(t.TempDir(), "bootstrap.json")
			if err := os.WriteFile(p, js, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(envoy, "--mode", "validate", "--disable-hot-restart", "-c", p).CombinedOutput()
			if err != nil {
				t.Fatalf("envoy rejected the bootstrap: %v\n%s", err, out)
			}
		})
	}
	if _, err := Bootstrap(BootstrapOptions{Mesh: "m", Name: "n", XDSAddress: "nope"}); err == nil {
		t.Error("a bad xDS address was accepted")
	}
}
