package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/schema"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func meshWith(conf schema.CACert) *schema.MeshSpec {
	return &schema.MeshSpec{MTLS: &schema.MTLS{EnabledBackend: "ca-1", Backends: []schema.MTLSBackend{
		{Name: "ca-1", Type: "builtin", Conf: schema.BuiltinCAConf{CACert: conf}},
	}}}
}

func TestCAFollowsMeshBackend(t *testing.T) {
	t.Parallel()
	ec, err := NewCA("payments", CAOptionsFor(meshWith(schema.CACert{ECDSA: true, Expiration: schema.Duration{Duration: 48 * time.Hour}})), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ec.Cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("ECDSA backend gave a %T key", ec.Cert.PublicKey)
	}
	if got := ec.Cert.NotAfter.Sub(now); got != 48*time.Hour {
		t.Errorf("CA lifetime = %v, want 48h", got)
	}
	if !ec.Cert.IsCA || len(ec.Cert.URIs) != 1 || ec.Cert.URIs[0].String() != "spiffe://payments" {
		t.Errorf("CA: IsCA=%v URIs=%v, want a CA with trust domain spiffe://payments", ec.Cert.IsCA, ec.Cert.URIs)
	}

	rs, err := NewCA("default", CAOptionsFor(meshWith(schema.CACert{RSABits: 3072})), now)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := rs.Cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 3072 {
		t.Errorf("RSAbits 3072 gave %T", rs.Cert.PublicKey)
	}
	if got := rs.Cert.NotAfter.Sub(now); got != DefaultCAExpiration {
		t.Errorf("default CA lifetime = %v", got)
	}

	if _, err := NewCA("m", CAOptions{RSABits: 1024}, now); err == nil || !strings.Contains(err.Error(), "RSAbits 1024") {
		t.Errorf("RSAbits 1024: err = %v, want one naming RSAbits", err)
	}
}

func TestWorkloadCertVerifiesWithSPIFFE(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("default", CAOptions{ECDSA: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueWorkload(WorkloadRequest{Mesh: "default", Name: "backend-1", Services: []string{"backend", "admin", "backend"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ParseCertPEM(c.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	if strings.Join(uris, ",") != "spiffe://default/admin,spiffe://default/backend" {
		t.Errorf("URI SANs = %v", uris)
	}
	if leaf.NotAfter.Sub(now) != DefaultWorkloadTTL {
		t.Errorf("lifetime = %v, want 24h", leaf.NotAfter.Sub(now))
	}
	if want := now.Add(DefaultWorkloadTTL / 2); !c.RotateAt().Equal(want) {
		t.Errorf("RotateAt = %v, want half-life %v", c.RotateAt(), want)
	}
	if c.NeedsRotation(now.Add(11*time.Hour)) || !c.NeedsRotation(now.Add(13*time.Hour)) {
		t.Error("rotation must start at half-life")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for %v: %v", usage, err)
		}
	}
	// The certificate and key form a usable TLS pair.
	if _, err := tls.X509KeyPair(c.ChainPEM, c.KeyPEM); err != nil {
		t.Errorf("key pair: %v", err)
	}
	// Another mesh's CA does not verify it (meshes are isolated).
	other, _ := NewCA("other", CAOptions{ECDSA: true}, now)
	op := x509.NewCertPool()
	op.AddCert(other.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: op, CurrentTime: now}); err == nil {
		t.Error("a workload certificate of mesh default verified against mesh other's CA")
	}
	if _, err := other.IssueWorkload(WorkloadRequest{Mesh: "default", Services: []string{"x"}}, now); err == nil {
		t.Error("CA of mesh other issued for mesh default")
	}
}

func TestWorkloadTTLFromMesh(t *testing.T) {
	t.Parallel()
	m := meshWith(schema.CACert{ECDSA: true})
	if WorkloadTTLFor(m) != DefaultWorkloadTTL {
		t.Error("default TTL")
	}
	m.MTLS.Backends[0].DPCert = &schema.DPCert{}
	m.MTLS.Backends[0].DPCert.Rotation.Expiration = schema.Duration{Duration: time.Hour}
	if WorkloadTTLFor(m) != time.Hour {
		t.Errorf("TTL = %v, want 1h", WorkloadTTLFor(m))
	}
	ca, _ := NewCA("default", CAOptions{ECDSA: true, Expiration: 2 * time.Hour}, now)
	c, err := ca.IssueWorkload(WorkloadRequest{Mesh: "default", Services: []string{"a"}, TTL: 10 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.NotAfter.After(ca.Cert.NotAfter) {
		t.Error("workload certificate outlives its CA")
	}
}

func TestShortLivedCertRotatesAtHalfLifeFromIssue(t *testing.T) {
	t.Parallel()
	ca, _ := NewCA("default", CAOptions{ECDSA: true}, now)
	c, err := ca.IssueWorkload(WorkloadRequest{Mesh: "default", Services: []string{"web"}, TTL: 10 * time.Second}, now)
	if err != nil {
		t.Fatal(err)
	}
	// Backdating NotBefore for clock skew must not make a short-lived
	// certificate due at once.
	if c.NeedsRotation(now.Add(4*time.Second)) || !c.NeedsRotation(now.Add(5*time.Second)) {
		t.Errorf("RotateAt = %v, want issue time + 5s", c.RotateAt().Sub(now))
	}
}

func TestLoadOrCreateCAPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, created, err := LoadOrCreateCA(dir, "default", CAOptions{ECDSA: true}, now)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, "meshes", "default", "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v, want 0600", err, st)
	}
	b, created, err := LoadOrCreateCA(dir, "default", CAOptions{ECDSA: true}, now)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if !a.Cert.Equal(b.Cert) {
		t.Error("reloaded CA differs from the saved one")
	}
	if _, _, err := LoadOrCreateCA(dir, "default", CAOptions{}, now.Add(20*365*24*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired CA: err = %v", err)
	}
	// A corrupted key is reported with the files to delete.
	if err := os.WriteFile(filepath.Join(dir, "meshes", "default", "ca.key"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCA(dir, "default", CAOptions{}, now); err == nil || !strings.Contains(err.Error(), "ca.key") {
		t.Errorf("corrupt key: err = %v", err)
	}
	// A mismatched key is refused.
	other, _ := NewCA("default", CAOptions{ECDSA: true}, now)
	if _, err := ParseCA("default", a.CertPEM, other.KeyPEM); err == nil {
		t.Error("ParseCA accepted a key of another certificate")
	}
}

func TestSelfSignedServesTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pair, certPEM, err := LoadOrCreateServerCert(dir, "xds", []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to the self-signed endpoint: %v", err)
	}
	conn.Close()
	_, again, err := LoadOrCreateServerCert(dir, "xds", nil, time.Now())
	if err != nil || string(again) != string(certPEM) {
		t.Errorf("server certificate not reused: %v", err)
	}
}

// TestWorkloadCertCarriesTagSANs: every inbound tag other than kuma.io/service
// becomes a kuma://<tag>/<value> URI SAN after the SPIFFE ones, in tag then
// value order, and Go's parser reads them back verbatim.
func TestWorkloadCertCarriesTagSANs(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("default", CAOptions{ECDSA: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueWorkload(WorkloadRequest{Mesh: "default", Services: []string{"web"}, Tags: map[string][]string{
		"version": {"v2", "v1", "v2"}, "kuma.io/zone": {"zone-b"}, "kuma.io/service": {"web"}, "kuma.io/protocol": {"http"},
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ParseCertPEM(c.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	want := "spiffe://default/web,kuma://kuma.io/protocol/http,kuma://kuma.io/zone/zone-b,kuma://version/v1,kuma://version/v2"
	if got := strings.Join(uris, ","); got != want || strings.Join(c.URIs, ",") != want {
		t.Errorf("URI SANs = %s (Cert.URIs %v), want %s", got, c.URIs, want)
	}
	if _, err := ca.IssueWorkload(WorkloadRequest{Mesh: "default", Services: []string{"web"}, Tags: map[string][]string{"a:b": {"x"}}}, now); err == nil || !strings.Contains(err.Error(), `tag "a:b"`) {
		t.Errorf("a tag name that cannot be a URI SAN: err = %v, want one naming the tag", err)
	}
}
