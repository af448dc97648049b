package kds

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

// ServerCertName is the base name of the global's self-signed KDS certificate
// in its state dir (kds-server.crt, kds-server.key): zones verify the global
// with --ca-cert pointing at kds-server.crt.
const ServerCertName = "kds-server"

// ServerCredentials returns the KDS server's TLS: the certificate and key
// files when given, otherwise a self-signed certificate for hosts (plus
// localhost and the loopback addresses) persisted in stateDir on first start.
func ServerCredentials(certFile, keyFile, stateDir string, hosts []string, now time.Time) (credentials.TransportCredentials, error) {
	var cert tls.Certificate
	var err error
	switch {
	case certFile != "" || keyFile != "":
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("kds: TLS needs both a certificate and a key file (got cert %q, key %q)", certFile, keyFile)
		}
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("kds: load TLS certificate: %w", err)
		}
	default:
		if stateDir == "" {
			return nil, fmt.Errorf("kds: no TLS certificate: pass a certificate and key, or a --state-dir to keep a self-signed one in")
		}
		all := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
		if h, err := os.Hostname(); err == nil {
			all = append(all, h)
		}
		cert, _, err = pki.LoadOrCreateServerCert(stateDir, ServerCertName, all, now)
		if err != nil {
			return nil, fmt.Errorf("kds: self-signed TLS certificate: %w", err)
		}
	}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// ClientTLS returns the zone's TLS config: it trusts the PEM certificates in
// caFile (the global's self-signed certificate or its CA), or the system roots
// when caFile is empty.
func ClientTLS(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("kds: read --ca-cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("kds: --ca-cert %s holds no PEM certificate", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// FileCAs is the global's CAProvider: one CA per mesh, generated on first
// need and persisted under Dir (pki layout: meshes/<mesh>/ca.crt, ca.key).
type FileCAs struct {
	Dir string
	Now func() time.Time
}

// MeshCA implements CAProvider.
func (f FileCAs) MeshCA(mesh string, spec *schema.MeshSpec) (MeshCA, error) {
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	ca, _, err := pki.LoadOrCreateCA(f.Dir, mesh, pki.CAOptionsFor(spec), now)
	if err != nil {
		return MeshCA{}, err
	}
	return MeshCA{Mesh: mesh, CertPEM: ca.CertPEM, KeyPEM: ca.KeyPEM}, nil
}
