package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"time"

	"github.com/meshc/meshc/schema"
)

// DefaultWorkloadTTL is how long a workload certificate lives unless the mesh's
// backend sets dpCert.rotation.expiration (DESIGN.md §4: 24 h, rotated at half-life).
const DefaultWorkloadTTL = 24 * time.Hour

// SPIFFEID is the identity of a service in a mesh: spiffe://<mesh>/<service>.
func SPIFFEID(mesh, service string) string {
	return (&url.URL{Scheme: "spiffe", Host: mesh, Path: "/" + service}).String()
}

// TrustDomain is a mesh's SPIFFE trust domain URI: spiffe://<mesh>.
func TrustDomain(mesh string) string { return "spiffe://" + mesh }

func trustDomain(mesh string) (*url.URL, error) {
	if mesh == "" {
		return nil, errors.New("pki: empty mesh name")
	}
	return &url.URL{Scheme: "spiffe", Host: mesh}, nil
}

// WorkloadRequest asks for a proxy's certificate.
type WorkloadRequest struct {
	Mesh string
	// Services are the kuma.io/service values of the proxy's inbounds; each
	// becomes one URI SAN. A proxy without inbounds (a pure client) gets none
	// and Name is used for the subject only.
	Services []string
	// Tags are the other tags of the proxy's inbounds (kuma.io/zone, version,
	// …; kuma.io/service is proved by the SPIFFE SAN and skipped), each value
	// becoming one URI SAN kuma://<tag>/<value> after the SPIFFE SANs, sorted
	// by tag then value. A tag with values on several inbounds proves each.
	Tags map[string][]string
	Name string        // the dataplane's name (subject CN); optional
	TTL  time.Duration // default DefaultWorkloadTTL
}

// Cert is an issued certificate with its key, both PEM.
type Cert struct {
	CertPEM   []byte // leaf only
	KeyPEM    []byte
	ChainPEM  []byte    // leaf followed by the issuing CA
	NotBefore time.Time // backdated a little for clock skew
	NotAfter  time.Time
	IssuedAt  time.Time
	URIs      []string
}

// RotateAt is the half-life of the certificate (from its issue time): when a
// new one should be issued.
func (c *Cert) RotateAt() time.Time {
	from := c.IssuedAt
	if from.IsZero() {
		from = c.NotBefore
	}
	return from.Add(c.NotAfter.Sub(from) / 2)
}

// NeedsRotation reports whether now is at or past the half-life.
func (c *Cert) NeedsRotation(now time.Time) bool { return !now.Before(c.RotateAt()) }

// IssueWorkload signs a client+server certificate for a proxy with one SPIFFE
// URI SAN per service (sorted, deduplicated). The key is ECDSA P-256.
func (ca *CA) IssueWorkload(req WorkloadRequest, now time.Time) (*Cert, error) {
	if req.Mesh != ca.Mesh {
		return nil, fmt.Errorf("pki: CA of mesh %q cannot issue for mesh %q", ca.Mesh, req.Mesh)
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = DefaultWorkloadTTL
	}
	services := uniqueSorted(req.Services)
	var uris []*url.URL
	var uriStrings []string
	for _, s := range services {
		if s == "" {
			return nil, errors.New("pki: empty service name in workload request")
		}
		u := &url.URL{Scheme: "spiffe", Host: req.Mesh, Path: "/" + s}
		uris = append(uris, u)
		uriStrings = append(uriStrings, u.String())
	}
	tagURIs, err := tagSANs(req.Tags)
	if err != nil {
		return nil, err
	}
	for _, u := range tagURIs {
		uris = append(uris, u)
		uriStrings = append(uriStrings, u.String())
	}
	cn := req.Name
	if cn == "" && len(services) > 0 {
		cn = services[0]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: workload key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-time.Minute) // tolerate small clock skew
	notAfter := now.Add(ttl)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"meshc"}, OrganizationalUnit: []string{"mesh:" + req.Mesh}},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:           uris,
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign workload certificate for %v in mesh %q: %w", services, req.Mesh, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &Cert{
		CertPEM:   leaf,
		KeyPEM:    keyPEM,
		ChainPEM:  append(append([]byte{}, leaf...), ca.CertPEM...),
		NotBefore: notBefore,
		NotAfter:  notAfter,
		IssuedAt:  now,
		URIs:      uriStrings,
	}, nil
}

// TagURI is the URI SAN proving a tag: kuma://<tag>/<value>.
func TagURI(tag, value string) string { return "kuma://" + tag + "/" + value }

// tagSANs returns the kuma://<tag>/<value> URIs of tags (kuma.io/service
// excluded) in tag, then value order. A tag or value that cannot be carried
// verbatim in a URI SAN (RBAC compares the exact text) is an error.
func tagSANs(tags map[string][]string) ([]*url.URL, error) {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if k != schema.TagService {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []*url.URL
	for _, k := range keys {
		for _, v := range uniqueSorted(tags[k]) {
			s := TagURI(k, v)
			u, err := url.Parse(s)
			if k == "" || v == "" || err != nil || u.String() != s || u.Host == "" {
				return nil, fmt.Errorf("pki: tag %q: %q cannot be carried as the certificate URI SAN %s; rename the tag (no ':' in tag names)", k, v, s)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// SelfSigned makes a self-signed server certificate for TLS endpoints (the
// zone's xDS, the global's KDS). hosts are DNS names or IP addresses; ttl
// defaults to one year.
func SelfSigned(hosts []string, ttl time.Duration, now time.Time) (*Cert, error) {
	if ttl <= 0 {
		ttl = 365 * 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	cn := "meshc"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"meshc"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can pin it as their root
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: self-signed certificate for %v: %w", hosts, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &Cert{CertPEM: leaf, KeyPEM: keyPEM, ChainPEM: leaf, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter}, nil
}

func uniqueSorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

// WorkloadTTLFor is the workload certificate lifetime of a mesh's enabled
// backend (dpCert.rotation.expiration), or DefaultWorkloadTTL.
func WorkloadTTLFor(m *schema.MeshSpec) time.Duration {
	if b := EnabledBackend(m); b != nil && b.DPCert != nil && b.DPCert.Rotation.Expiration.Duration > 0 {
		return b.DPCert.Rotation.Expiration.Duration
	}
	return DefaultWorkloadTTL
}
