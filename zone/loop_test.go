package zone

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

func mtlsBundle() *compiler.Bundle {
	return &compiler.Bundle{Version: "v1", Resources: []schema.Resource{
		{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{MTLS: &schema.MTLS{EnabledBackend: "ca-1", Backends: []schema.MTLSBackend{
			{Name: "ca-1", Type: "builtin", Conf: schema.BuiltinCAConf{CACert: schema.CACert{ECDSA: true}}},
		}}}},
	}}
}

func dp(name, svc string, port int, outbound ...string) schema.Resource {
	s := &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{Address: "127.0.0.1", Inbound: []schema.Inbound{
		{Port: port, Tags: map[string]string{schema.TagService: svc}},
	}}}
	for i, o := range outbound {
		s.Networking.Outbound = append(s.Networking.Outbound, schema.Outbound{Port: 10000 + i, Tags: map[string]string{schema.TagService: o}})
	}
	return schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: name, Spec: s}
}

// next waits for one published plan and its identity.
func next(t *testing.T, r *recorder) (*compiler.ProxyPlan, *WorkloadIdentity) {
	t.Helper()
	select {
	case p := <-r.updates:
		return p, <-r.ids
	case <-time.After(5 * time.Second):
		t.Fatal("no proxy update within 5s")
	}
	return nil, nil
}

func TestLoopPublishesAffectedProxiesWithCertificates(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	state := t.TempDir()
	a, err := New(Options{Zone: "zone-a", Standalone: true, StateDir: state, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Publisher: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	a.SetBundle(mtlsBundle())
	if _, err := a.Registry().Put(dp("web-1", "web", 8080, "backend")); err != nil {
		t.Fatal(err)
	}
	p, id := next(t, rec)
	if p.Key.Name != "web-1" || !p.MTLS || id == nil {
		t.Fatalf("first update: %v mtls=%v id=%v", p.Key, p.MTLS, id)
	}
	leaf, err := pki.ParseCertPEM(id.CertChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	// The SPIFFE id first, then a kuma:// SAN per inbound tag (the zone's own included).
	var uris []string
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	if got := strings.Join(uris, " "); got != "spiffe://default/web kuma://kuma.io/zone/zone-a" {
		t.Fatalf("web's certificate URI SANs = %q, want spiffe://default/web kuma://kuma.io/zone/zone-a", got)
	}
	// Standalone: the mesh CA was generated and persisted in the state dir.
	if _, err := os.Stat(filepath.Join(state, "meshes", "default", "ca.crt")); err != nil {
		t.Errorf("mesh CA not persisted: %v", err)
	}
	caOnDisk, _ := pki.LoadCA(state, "default")
	if caOnDisk == nil || string(caOnDisk.CertPEM) != string(id.CAPEM) {
		t.Error("the served CA is not the persisted one")
	}

	// A backend joining recomputes web (which routes to it) and itself, nothing else.
	a.Registry().Put(dp("other-1", "other", 9090))
	if p, _ := next(t, rec); p.Key.Name != "other-1" {
		t.Fatalf("unexpected update of %v", p.Key)
	}
	a.Registry().Put(dp("backend-1", "backend", 8081))
	got := []string{}
	for i := 0; i < 2; i++ {
		p, _ := next(t, rec)
		got = append(got, p.Key.Name)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "backend-1,web-1" {
		t.Errorf("backend joining updated %v, want backend-1 and web-1", got)
	}
	select {
	case p := <-rec.updates:
		t.Errorf("unaffected proxy %v was recomputed", p.Key)
	case <-time.After(100 * time.Millisecond):
	}

	// Leaving: the proxy is removed and web recomputed.
	a.Registry().Delete(schema.Key{Type: schema.TypeDataplane, Mesh: "default", Name: "backend-1"})
	select {
	case k := <-rec.removed:
		if k.Name != "backend-1" {
			t.Errorf("removed %v", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("backend-1 not removed")
	}
	if p, _ := next(t, rec); p.Key.Name != "web-1" {
		t.Errorf("after backend left, updated %v", p.Key)
	}
}

func TestCertificatesRotateAtHalfLife(t *testing.T) {
	t.Parallel()
	now := time.Now()
	m := newCertManager()
	ca, _ := pki.NewCA("default", pki.CAOptions{ECDSA: true}, now)
	m.setCA(ca)
	k := compiler.ProxyKey{Mesh: "default", Name: "web-1"}
	a, err := m.identity(k, []string{"web"}, nil, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.identity(k, []string{"web"}, nil, time.Hour, now.Add(10*time.Minute))
	if string(a.CertChainPEM) != string(b.CertChainPEM) {
		t.Error("certificate reissued before half-life")
	}
	if due, next := m.due(now.Add(10 * time.Minute)); len(due) != 0 || next.IsZero() {
		t.Errorf("due early: %v next %v", due, next)
	}
	if due, _ := m.due(now.Add(31 * time.Minute)); len(due) != 1 {
		t.Errorf("not due at half-life: %v", due)
	}
	c, _ := m.identity(k, []string{"web"}, nil, time.Hour, now.Add(31*time.Minute))
	if string(c.CertChainPEM) == string(a.CertChainPEM) || !c.NotAfter.After(a.NotAfter) {
		t.Error("certificate not rotated at half-life")
	}
	d, _ := m.identity(k, []string{"web", "admin"}, nil, time.Hour, now.Add(31*time.Minute))
	if string(d.CertChainPEM) == string(c.CertChainPEM) {
		t.Error("new services kept the old certificate")
	}
	e, _ := m.identity(k, []string{"web", "admin"}, map[string][]string{"version": {"v2"}}, time.Hour, now.Add(32*time.Minute))
	if string(e.CertChainPEM) == string(d.CertChainPEM) {
		t.Error("new inbound tags kept the old certificate")
	}
	if leaf, err := pki.ParseCertPEM(e.CertChainPEM); err != nil || len(leaf.URIs) != 3 || leaf.URIs[2].String() != "kuma://version/v2" {
		t.Errorf("reissued certificate lacks kuma://version/v2: %v", err)
	}
}

// A zone synced from a global gets mesh CAs with SetMeshCA: proxies wait for
// the CA, then get certificates from it; a new CA reissues them.
func TestMeshCAFromGlobal(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	a, err := New(Options{Zone: "zone-a", Dev: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Publisher: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	a.SetBundle(mtlsBundle())
	a.Registry().Put(dp("web-1", "web", 8080))
	select {
	case p := <-rec.updates:
		t.Fatalf("%v published without a CA", p.Key)
	case <-time.After(200 * time.Millisecond):
	}
	install := func() *pki.CA {
		ca, err := pki.NewCA("default", pki.CAOptions{ECDSA: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetMeshCA("default", ca.CertPEM, ca.KeyPEM); err != nil {
			t.Fatal(err)
		}
		return ca
	}
	for round := 0; round < 2; round++ {
		ca := install()
		_, id := next(t, rec)
		if string(id.CAPEM) != string(ca.CertPEM) {
			t.Fatalf("round %d: proxy got another CA", round)
		}
		leaf, _ := pki.ParseCertPEM(id.CertChainPEM)
		if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
			t.Fatalf("round %d: certificate not issued by the installed CA: %v", round, err)
		}
	}
	if err := a.SetMeshCA("default", []byte("junk"), nil); err == nil {
		t.Error("a bad CA was accepted")
	}
}
