// Package pki holds the mesh certificate authorities and the certificates
// issued from them: one CA per mesh (RSA or ECDSA, as Mesh.mtls.backends[].conf.caCert
// says), short-lived workload certificates carrying a SPIFFE URI SAN
// `spiffe://<mesh>/<service>` per inbound service, self-signed server
// certificates for TLS endpoints, and PEM persistence helpers.
//
// The API is small on purpose:
//
//	ca, err := pki.NewCA("default", pki.CAOptionsFor(meshSpec), time.Now())
//	ca, created, err := pki.LoadOrCreateCA(stateDir, "default", opts, time.Now())
//	cert, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "default", Services: []string{"web"}}, time.Now())
//	if now.After(cert.RotateAt()) { … reissue … }
//	srv, err := pki.SelfSigned([]string{"localhost", "127.0.0.1"}, 0, time.Now())
//
// Nothing here does network I/O; only LoadOrCreateCA and the Save/Load helpers
// touch the file system.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/meshc/meshc/schema"
)

// Defaults of a builtin mesh CA (Kuma's): RSA 2048, ten years.
const (
	DefaultRSABits      = 2048
	DefaultCAExpiration = 10 * 365 * 24 * time.Hour
)

// CAOptions says which key a mesh CA gets and how long it lives.
type CAOptions struct {
	// ECDSA selects a P-256 key; otherwise RSA of RSABits (default 2048).
	ECDSA      bool
	RSABits    int
	Expiration time.Duration // default DefaultCAExpiration
}

// CAOptionsFor reads the CA options of a mesh's enabled mTLS backend
// (defaults when mTLS is off or the backend leaves them out).
func CAOptionsFor(m *schema.MeshSpec) CAOptions {
	var o CAOptions
	if b := EnabledBackend(m); b != nil {
		o.ECDSA = b.Conf.CACert.ECDSA
		o.RSABits = b.Conf.CACert.RSABits
		o.Expiration = b.Conf.CACert.Expiration.Duration
	}
	return o.withDefaults()
}

// EnabledBackend returns the mesh's enabled mTLS backend, or nil when mTLS is off.
func EnabledBackend(m *schema.MeshSpec) *schema.MTLSBackend {
	if m == nil || !m.MTLS.Enabled() {
		return nil
	}
	for i := range m.MTLS.Backends {
		if m.MTLS.Backends[i].Name == m.MTLS.EnabledBackend {
			return &m.MTLS.Backends[i]
		}
	}
	return nil
}

func (o CAOptions) withDefaults() CAOptions {
	if !o.ECDSA && o.RSABits == 0 {
		o.RSABits = DefaultRSABits
	}
	if o.Expiration <= 0 {
		o.Expiration = DefaultCAExpiration
	}
	return o
}

// CA is one mesh's certificate authority.
type CA struct {
	Mesh string
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM and KeyPEM are the PEM forms of Cert and Key (what is persisted
	// and what the global sends zones).
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA generates a self-signed CA for mesh. Its subject names the mesh and
// its URI SAN is `spiffe://<mesh>` (the trust domain).
func NewCA(mesh string, opts CAOptions, now time.Time) (*CA, error) {
	opts = opts.withDefaults()
	key, err := newKey(opts)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key for mesh %q: %w", mesh, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	td, err := trustDomain(mesh)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "meshc CA " + mesh, Organization: []string{"meshc"}, OrganizationalUnit: []string{"mesh:" + mesh}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(opts.Expiration),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		URIs:                  []*url.URL{td},
		SubjectKeyId:          keyID(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate for mesh %q: %w", mesh, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return ParseCA(mesh, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM)
}

// ParseCA reads a CA from its PEM certificate and key (as persisted or as sent by the global).
func ParseCA(mesh string, certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA of mesh %q: %w", mesh, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: CA of mesh %q: certificate %q is not a CA", mesh, cert.Subject.CommonName)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA of mesh %q: %w", mesh, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: CA of mesh %q: the key does not match the certificate", mesh)
	}
	return &CA{Mesh: mesh, Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCertPEM reads the first CERTIFICATE block of data.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block found")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

// ParseKeyPEM reads a PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) private key.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key block found")
	}
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key (%s): %w", b.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}

func newKey(o CAOptions) (crypto.Signer, error) {
	if o.ECDSA {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if o.RSABits < 2048 {
		return nil, fmt.Errorf("RSAbits %d is too small (use 2048 or more)", o.RSABits)
	}
	return rsa.GenerateKey(rand.Reader, o.RSABits)
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n, nil
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
