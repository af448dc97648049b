package compiler

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

var bundleDocs = []string{
	meshDefault,
	meshPayments,
	allowWebToBackend,
	`{type: Zone, name: zone-b, enabled: false}`,
	policyDoc("MeshTimeout", "timeouts", `
targetRef: {kind: Mesh}
to: [{targetRef: {kind: Mesh}, default: {connectionTimeout: 60s, http: {requestTimeout: 1500ms}}}]`),
	routeDoc("MeshHTTPRoute", "canary", `
- default:
    backendRefs:
    - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-a}, weight: 90}
    - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-b}, weight: 10}`),
}

func TestCompileBundleIsSortedAndVersioned(t *testing.T) {
	t.Parallel()
	rs := repo(t, bundleDocs...)
	b, errs := Compile(rs, Options{Commit: "0123abcd"})
	if errs.HasErrors() || b == nil {
		t.Fatalf("Compile: %v", errs)
	}
	if len(errs) != 0 {
		t.Errorf("unexpected warnings: %v", errs)
	}
	if b.Commit != "0123abcd" {
		t.Errorf("Commit = %q, want the one from Options", b.Commit)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(b.Version) {
		t.Errorf("Version = %q, want 16 hex digits", b.Version)
	}
	var keys []string
	for _, r := range b.Resources {
		keys = append(keys, r.Key().String())
	}
	wantKeys := []string{
		"Mesh/default", "Mesh/payments",
		"MeshHTTPRoute/default/canary", "MeshTimeout/default/timeouts",
		"MeshTrafficPermission/default/allow-web", "Zone/zone-b",
	}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("bundle order:\n got %v\nwant %v", keys, wantKeys)
	}
	// Sources survive, so later stages can still point at files.
	if p := b.Find(schema.Key{Type: "Mesh", Name: "payments"}).Source.Pos; p.File != "mesh-payments.yaml" {
		t.Errorf("bundle resource lost its source: %v", p)
	}
}

func TestCompileVersionIgnoresOrderFilesAndCommit(t *testing.T) {
	t.Parallel()
	base, errs := Compile(repo(t, bundleDocs...), Options{Commit: "a"})
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5; i++ {
		rs := repo(t, bundleDocs...)
		rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		for k := range rs {
			rs[k].Source = schema.Source{Pos: schema.Pos{File: "elsewhere/all.cue", Line: k + 1}}
		}
		b, errs := Compile(rs, Options{Commit: "b"})
		if errs.HasErrors() {
			t.Fatal(errs)
		}
		if b.Version != base.Version {
			t.Fatalf("shuffled, renamed input: version %s, want %s", b.Version, base.Version)
		}
	}
}

func TestCompileVersionIgnoresEquivalentSpellings(t *testing.T) {
	t.Parallel()
	// The same content written another way: durations in other units, empty
	// lists and maps instead of absent ones, an omitted top-level targetRef.
	variant := make([]string, len(bundleDocs))
	copy(variant, bundleDocs)
	variant[4] = policyDoc("MeshTimeout", "timeouts", `
to: [{targetRef: {kind: Mesh, tags: {}}, default: {connectionTimeout: 1m, http: {requestTimeout: 1.5s, streamIdleTimeout: null}}}]
from: []`)
	variant[1] = "type: Mesh\nname: payments\nmtls: {backends: []}\n"
	a, errs := Compile(repo(t, bundleDocs...), Options{})
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	b, errs := Compile(repo(t, variant...), Options{})
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	ja, _ := json.Marshal(a.Resources)
	jb, _ := json.Marshal(b.Resources)
	if string(ja) != string(jb) {
		t.Errorf("normalized forms differ:\n%s\n%s", ja, jb)
	}
	if a.Version != b.Version {
		t.Errorf("versions differ for equivalent content: %s vs %s", a.Version, b.Version)
	}
	if !strings.Contains(string(ja), `"connectionTimeout":"1m0s"`) {
		t.Errorf("durations not canonical: %s", ja)
	}
}

func TestCompileVersionFollowsContent(t *testing.T) {
	t.Parallel()
	a, _ := Compile(repo(t, bundleDocs...), Options{})
	changed := make([]string, len(bundleDocs))
	copy(changed, bundleDocs)
	changed[5] = strings.Replace(bundleDocs[5], "weight: 90", "weight: 80", 1)
	b, errs := Compile(repo(t, changed...), Options{})
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	if a.Version == b.Version {
		t.Errorf("a weight change kept version %s", a.Version)
	}
}

func TestCompileDoesNotChangeInput(t *testing.T) {
	t.Parallel()
	rs := repo(t, bundleDocs...)
	before, _ := json.Marshal(rs)
	b, errs := Compile(rs, Options{})
	if errs.HasErrors() {
		t.Fatal(errs)
	}
	b.Resources[0].Name = "mutated"
	after, _ := json.Marshal(rs)
	if string(before) != string(after) {
		t.Errorf("Compile changed its input or shares memory with it")
	}
	if rs[0].Name != "default" {
		t.Errorf("bundle shares resources with the input")
	}
}

func TestCompileWarningsKeepBundleErrorsDropIt(t *testing.T) {
	t.Parallel()
	b, errs := Compile(repo(t, meshDefault), Options{})
	if b == nil || errs.HasErrors() || len(errs) != 1 || errs[0].Severity != schema.SeverityWarning {
		t.Fatalf("mesh with mTLS and no permission: want a bundle and one warning, got bundle=%v errs=%v", b != nil, errs)
	}
	b, errs = Compile(repo(t, meshDefault, meshDefault), Options{})
	if b != nil || !errs.HasErrors() {
		t.Fatalf("duplicate mesh: want no bundle and errors, got bundle=%v errs=%v", b != nil, errs)
	}
	for i := 1; i < len(errs); i++ {
		a, c := errs[i-1].Pos, errs[i].Pos
		if a.File > c.File || (a.File == c.File && a.Line > c.Line) {
			t.Errorf("diagnostics not sorted by position: %v before %v", a, c)
		}
	}
}
