package kds

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meshc/meshc/internal/testenv"
)

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A real Envoy pointed at the KDS port (ADS over TLS) is refused with
// PermissionDenied and a message naming the zone's xDS port.
func TestEnvoyOnKDSPortGetsClearRefusal(t *testing.T) {
	t.Parallel()
	envoy := testenv.Envoy(t)
	g := startGlobal(t, nil)
	host, port, _ := strings.Cut(g.addr, ":")
	dir := t.TempDir()
	bootstrap := fmt.Sprintf(`node: {id: default.web-1, cluster: web}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]
  cds_config: {ads: {}, resource_api_version: V3}
  lds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: xds
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: %s, port_value: %s}}}}]}]
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: localhost
        common_tls_context:
          validation_context: {trusted_ca: {filename: %s}}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}
`, host, port, g.caFile)
	bf := filepath.Join(dir, "bootstrap.yaml")
	if err := os.WriteFile(bf, []byte(bootstrap), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(envoy, "-c", bf, "--disable-hot-restart", "--base-id", "0", "--use-dynamic-base-id", "-l", "warning")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "Envoy logs the KDS port's refusal", func() bool {
		s := out.String()
		return strings.Contains(s, "this is the meshc global's KDS port") && strings.Contains(s, "7,") // 7 = PermissionDenied
	})
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "KDS port") {
			t.Log(l)
			break
		}
	}
}
