package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// render is a stable JSON rendering of a proxy's resources: by type, then name.
func render(t *testing.T, r *Resources) []byte {
	t.Helper()
	out := map[string][]json.RawMessage{}
	for ti, u := range typeURLs {
		for _, n := range r.Names(u) {
			v, _ := r.get(ti, n)
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.(proto.Message))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, b); err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(u)] = append(out[filepath.Base(u)], buf.Bytes())
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestGolden(t *testing.T) {
	p, _ := fixture(t)
	tr := NewTranslator()
	for _, c := range []struct {
		mesh, name string
		opts       Options
	}{
		{"default", "web-1", Options{}},
		{"default", "backend-v1-1", Options{}},
		{"default", "db-1", Options{}},
		{"plain", "grpc-client", Options{Proxyless: true}},
	} {
		t.Run(c.mesh+"."+c.name, func(t *testing.T) {
			pl := mustPlanOf(t, p, c.mesh, c.name)
			sec := fakeSecrets
			if !pl.MTLS {
				sec = nil
			}
			res, err := tr.Translate(pl, sec, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := res.Snapshot(); err != nil {
				t.Fatal(err)
			}
			snap, _ := res.Materialize()
			if !c.opts.Proxyless {
				if err := snap.Consistent(); err != nil {
					t.Fatalf("go-control-plane's Consistent(): %v", err)
				}
			}
			got := render(t, res)
			path := filepath.Join("testdata", "golden", c.mesh+"."+c.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./xds -run TestGolden -update` to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the generated config; if the change is intended, run `go test ./xds -run TestGolden -update` and review the diff", path)
			}
		})
	}
}
