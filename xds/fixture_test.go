package xds

import (
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// fixture loads xds/testdata/fixture (two meshes, every policy kind, six
// dataplanes, one remote ingress) through the real schema loader and plans it
// as zone-a.
func fixture(t testing.TB) (*compiler.Planner, []compiler.ProxyKey) {
	t.Helper()
	rs, errs := schema.LoadPaths("testdata/fixture")
	if errs.HasErrors() {
		t.Fatalf("load fixture: %v", errs)
	}
	var global, dps, ingresses []schema.Resource
	for _, r := range rs {
		switch r.Type {
		case schema.TypeDataplane:
			dps = append(dps, r)
		case schema.TypeZoneIngress:
			ingresses = append(ingresses, r)
		default:
			global = append(global, r)
		}
	}
	schema.SortResources(global)
	p := compiler.NewPlanner("zone-a")
	p.SetBundle(&compiler.Bundle{Version: "fixture", Resources: global})
	p.SetZoneIngresses(ingresses)
	p.SetVIPs(map[string][]compiler.VIPListener{"default": {
		{Address: "240.0.0.1", Port: 80, Service: "backend", Host: "backend.mesh"},
		{Address: "240.0.0.2", Port: 80, Service: "db", Host: "db.mesh"},
		{Address: "240.0.0.2", Port: 5432, Service: "db", Host: "db.mesh"},
	}})
	for _, dp := range dps {
		if _, err := p.UpsertDataplane(dp); err != nil {
			t.Fatal(err)
		}
	}
	return p, p.Proxies()
}

func mustPlanOf(t testing.TB, p *compiler.Planner, mesh, name string) *compiler.ProxyPlan {
	t.Helper()
	pl, err := p.Plan(compiler.ProxyKey{Mesh: mesh, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// fakeSecrets are PEM-shaped placeholders: enough for translation and
// Validate(), stable for golden files. Tests with a real Envoy use pki.
var fakeSecrets = &Secrets{
	CertPEM: []byte("-----BEGIN CERTIFICATE-----\nfixture\n-----END CERTIFICATE-----\n"),
	KeyPEM:  []byte("-----BEGIN PRIVATE KEY-----\nfixture\n-----END PRIVATE KEY-----\n"),
	CAPEM:   []byte("-----BEGIN CERTIFICATE-----\nfixture-ca\n-----END CERTIFICATE-----\n"),
}
