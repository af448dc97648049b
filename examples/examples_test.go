package examples

import (
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// The embedded copy is the whole repo and compiles to a bundle.
func TestEmbeddedExamplesCompile(t *testing.T) {
	rs, errs := schema.LoadFS(FS, ".", "examples")
	if errs.HasErrors() {
		t.Fatalf("load embedded examples:\n%v", errs)
	}
	b, errs := compiler.Compile(rs, compiler.Options{})
	if errs.HasErrors() || b == nil {
		t.Fatalf("compile embedded examples:\n%v", errs)
	}
	disk, derrs := schema.LoadPaths(".")
	if derrs.HasErrors() {
		t.Fatal(derrs)
	}
	if len(rs) != len(disk) {
		t.Errorf("embedded FS has %d resources, the directory %d: update the go:embed line", len(rs), len(disk))
	}
	for _, m := range []string{"default", "payments"} {
		if b.Find(schema.Key{Type: schema.TypeMesh, Name: m}) == nil {
			t.Errorf("mesh %q missing", m)
		}
	}
}
