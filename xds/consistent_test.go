package xds

import (
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// TestSnapshotsConsistent: every fixture proxy's sidecar snapshot, and the
// make-before-break interim (new config plus the removed clusters), pass
// go-control-plane's Consistent(); every resource passed Validate() when built.
func TestSnapshotsConsistent(t *testing.T) {
	p, keys := fixture(t)
	tr := NewTranslator()
	old := map[compiler.ProxyKey]*Resources{}
	for _, k := range keys {
		pl := mustPlanOf(t, p, k.Mesh, k.Name)
		res, err := tr.Translate(pl, fakeSecrets, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := res.Snapshot(); err != nil {
			t.Fatal(err)
		}
		snap, _ := res.Materialize()
		if err := snap.Consistent(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		old[k] = res
	}
	// Drop the version split: web loses its subset clusters.
	rs, _ := schema.LoadPaths("testdata/fixture/mesh.yaml", "testdata/fixture/policies.yaml")
	var kept []schema.Resource
	for _, r := range rs {
		if r.Name != "backend-split" && r.Name != "backend-extras" {
			kept = append(kept, r)
		}
	}
	schema.SortResources(kept)
	changed := p.SetBundle(&compiler.Bundle{Version: "2", Resources: kept})
	web := compiler.ProxyKey{Mesh: "default", Name: "web-1"}
	found := false
	for _, k := range changed {
		found = found || k == web
	}
	if !found {
		t.Fatalf("removing web's route did not affect web-1: %v", changed)
	}
	next, err := tr.Translate(mustPlanOf(t, p, web.Mesh, web.Name), fakeSecrets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	interim := keepRemoved(old[web], next)
	if interim == nil {
		t.Fatal("no cluster removed")
	}
	if _, err := interim.Snapshot(); err != nil {
		t.Fatal(err)
	}
	snap, _ := interim.Materialize()
	if err := snap.Consistent(); err != nil {
		t.Fatalf("interim: %v", err)
	}
	if interim.count(typeCluster) <= next.count(typeCluster) {
		t.Fatal("interim does not keep the removed clusters")
	}
}
