package schema

import (
	"testing"
	"testing/fstest"
)

func TestLoadFSSmoke(t *testing.T) {
	fsys := fstest.MapFS{
		"mesh.yaml": {Data: []byte("type: Mesh\nname: default\n")},
		"zone.yaml": {Data: []byte("type: Zone\nname: z1\nenbled: true\n")},
	}
	rs, errs := LoadFS(fsys, ".", "repo")
	if len(rs) != 1 || rs[0].Type != TypeMesh {
		t.Fatalf("resources = %+v, errs = %v", rs, errs)
	}
	if len(errs) != 1 || errs[0].Pos.String() != "repo/zone.yaml:3:1" {
		t.Fatalf("errs = %v, want one error at repo/zone.yaml:3:1", errs)
	}
}
