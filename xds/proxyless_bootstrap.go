package xds

import (
	"encoding/json"
	"fmt"
	"time"
)

// ProxylessOptions describe a proxyless gRPC client's xDS bootstrap.
type ProxylessOptions struct {
	Mesh, Name string
	// XDSAddress is the zone's xDS server (host:port), plaintext (a --dev zone).
	XDSAddress string
	// CertFile, KeyFile and CAFile are the client's workload certificate
	// (chain), key and mesh CA, PEM, for a mesh with mTLS (a file_watcher
	// certificate provider picks up rotations). Empty without mTLS.
	CertFile, KeyFile, CAFile string
	// Refresh is how often the certificate files are re-read (default 10m).
	Refresh time.Duration
}

// ProxylessBootstrap renders grpc-go's xDS bootstrap JSON for a proxyless
// client: node id `<mesh>.<name>` with metadata proxyless: true (the server
// then serves it api_listeners named after targets, `xds:///backend.mesh`),
// and the `meshc` certificate provider the generated clusters use for mTLS.
func ProxylessBootstrap(o ProxylessOptions) ([]byte, error) {
	if o.Mesh == "" || o.Name == "" || o.XDSAddress == "" {
		return nil, fmt.Errorf("proxyless bootstrap: mesh, name and xDS address are required")
	}
	b := map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      o.XDSAddress,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{"id": o.Mesh + "." + o.Name, "metadata": map[string]any{"proxyless": true}},
	}
	if o.CertFile != "" {
		refresh := o.Refresh
		if refresh <= 0 {
			refresh = 10 * time.Minute
		}
		b["certificate_providers"] = map[string]any{ProxylessCertProvider: map[string]any{
			"plugin_name": "file_watcher",
			"config": map[string]any{
				"certificate_file":    o.CertFile,
				"private_key_file":    o.KeyFile,
				"ca_certificate_file": o.CAFile,
				"refresh_interval":    fmt.Sprintf("%gs", refresh.Seconds()),
			},
		}}
	}
	return json.MarshalIndent(b, "", "  ")
}
