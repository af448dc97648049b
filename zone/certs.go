package zone

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

// certManager holds each mesh's CA and the workload certificate of each proxy.
// A proxy keeps its certificate until its identities change, its mesh's CA
// changes, or the certificate reaches half-life.
type certManager struct {
	mu    sync.Mutex
	cas   map[string]*pki.CA // by mesh
	certs map[compiler.ProxyKey]*proxyCert
}

type proxyCert struct {
	identities string // the services it was issued for, joined
	ca         *pki.CA
	cert       *pki.Cert
	// rotateAt is the half-life, up to 5% of the lifetime earlier at random,
	// so certificates issued together (a zone start) are not all reissued in
	// the same round.
	rotateAt time.Time
}

func newProxyCert(ids string, ca *pki.CA, c *pki.Cert) *proxyCert {
	jitter := time.Duration(rand.Int64N(int64(c.NotAfter.Sub(c.IssuedAt)/20) + 1))
	return &proxyCert{identities: ids, ca: ca, cert: c, rotateAt: c.RotateAt().Add(-jitter)}
}

// WorkloadIdentity is what a proxy presents and trusts: its certificate chain
// and key, and its mesh's CA certificate (all PEM).
type WorkloadIdentity struct {
	CertChainPEM []byte
	KeyPEM       []byte
	CAPEM        []byte
	NotAfter     time.Time
	RotateAt     time.Time
}

func newCertManager() *certManager {
	return &certManager{cas: map[string]*pki.CA{}, certs: map[compiler.ProxyKey]*proxyCert{}}
}

// setCA installs mesh's CA; it reports whether it differs from the current one.
func (m *certManager) setCA(ca *pki.CA) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.cas[ca.Mesh]; old != nil && old.Cert.Equal(ca.Cert) {
		return false
	}
	m.cas[ca.Mesh] = ca
	return true
}

func (m *certManager) ca(mesh string) *pki.CA {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cas[mesh]
}

// inboundTags collects the tags of a proxy's inbounds (kuma.io/zone,
// version, …) that its certificate proves as kuma://<tag>/<value> URI SANs.
func inboundTags(plan *compiler.ProxyPlan) map[string][]string {
	var tags map[string][]string
	for _, in := range plan.Inbounds {
		for k, v := range in.Tags {
			if k == schema.TagService {
				continue
			}
			if tags == nil {
				tags = map[string][]string{}
			}
			tags[k] = append(tags[k], v)
		}
	}
	return tags
}

// identity returns the proxy's workload identity, issuing a certificate when
// it has none, its services or tags changed, its CA changed or it is past
// half-life.
func (m *certManager) identity(k compiler.ProxyKey, services []string, tags map[string][]string, ttl time.Duration, now time.Time) (*WorkloadIdentity, error) {
	ids := strings.Join(services, ",") + "|" + canonTags(tags)
	m.mu.Lock()
	ca := m.cas[k.Mesh]
	pc := m.certs[k]
	m.mu.Unlock()
	if ca == nil {
		return nil, fmt.Errorf("mesh %q has mTLS enabled but this zone has no CA for it yet", k.Mesh)
	}
	if pc == nil || pc.identities != ids || pc.ca != ca || !now.Before(pc.rotateAt) {
		// Sign without the lock: a round issues many certificates in parallel.
		c, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: k.Mesh, Name: k.Name, Services: services, Tags: tags, TTL: ttl}, now)
		if err != nil {
			return nil, fmt.Errorf("issue certificate for %s: %w", k, err)
		}
		pc = newProxyCert(ids, ca, c)
		m.mu.Lock()
		m.certs[k] = pc
		m.mu.Unlock()
	}
	return &WorkloadIdentity{CertChainPEM: pc.cert.ChainPEM, KeyPEM: pc.cert.KeyPEM, CAPEM: ca.CertPEM, NotAfter: pc.cert.NotAfter, RotateAt: pc.rotateAt}, nil
}

// canonTags is tags as one comparable string (sorted keys and values).
func canonTags(tags map[string][]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := append([]string(nil), tags[k]...)
		sort.Strings(vs)
		b.WriteString(k + "=" + strings.Join(vs, ",") + ";")
	}
	return b.String()
}

func (m *certManager) forget(k compiler.ProxyKey) {
	m.mu.Lock()
	delete(m.certs, k)
	m.mu.Unlock()
}

// due returns the proxies whose certificate is at half-life, and when the next
// one will be (zero when none).
func (m *certManager) due(now time.Time) (keys []compiler.ProxyKey, next time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, pc := range m.certs {
		at := pc.rotateAt
		if !now.Before(at) {
			keys = append(keys, k)
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return keys, next
}

// meshTTL is the workload certificate lifetime of mesh in bundle b.
func meshTTL(b *compiler.Bundle, mesh string) time.Duration {
	if b == nil {
		return pki.DefaultWorkloadTTL
	}
	r := b.Find(schema.Key{Type: schema.TypeMesh, Name: mesh})
	if r == nil {
		return pki.DefaultWorkloadTTL
	}
	return pki.WorkloadTTLFor(r.MeshSpec())
}
