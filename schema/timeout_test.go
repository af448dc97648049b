package schema

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestCUERunawayIsStopped: a CUE package whose evaluation does not finish
// in time is reported at its file, and the other files still load. Not
// parallel: it changes the package's deadline.
func TestCUERunawayIsStopped(t *testing.T) {
	old := cueTimeout
	cueTimeout = 50 * time.Millisecond
	defer func() { cueTimeout = old }()

	rs, errs := LoadFS(fstest.MapFS{
		"slow/big.cue": {Data: []byte(`package slow

import "list"

n: list.Range(0, 400, 1)
resources: [for a in n for b in n if a*b == -1 {type: "Zone", name: "z"}]
`)},
		"zone.yaml": {Data: []byte("type: Zone\nname: ok\n")},
	}, ".", "repo")
	if len(rs) != 1 || rs[0].Name != "ok" {
		t.Errorf("resources = %v, want the YAML zone only", keys(rs))
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "repo/slow/big.cue: evaluating the CUE package in repo/slow took longer than 50ms") {
		t.Fatalf("errs = %v", errs)
	}
}
