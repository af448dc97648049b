package profx

import (
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

func BenchmarkLoad(b *testing.B) {
	for i := 0; i < b.N; i++ {
		rs, errs := schema.LoadPaths("/tmp/benchrepo")
		if errs.HasErrors() {
			b.Fatal(errs)
		}
		if _, errs := compiler.Compile(rs, compiler.Options{}); errs.HasErrors() {
			b.Fatal(errs)
		}
	}
}
