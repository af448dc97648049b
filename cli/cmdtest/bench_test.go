package cmdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genRepo writes a mesh repo of files policy files, YAML and CUE mixed (a
// quarter CUE, importing the embedded schema), in team directories of 20
// files, plus the two meshes. It is what a large organisation's repo looks
// like: many small files, each one policy.
func genRepo(tb testing.TB, dir string, files int) {
	tb.Helper()
	write := func(rel, data string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("meshes.yaml", `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
    - {name: ca-1, type: builtin, conf: {caCert: {RSAbits: 2048, expiration: 10y}}}
routing: {localityAwareLoadBalancing: true}
---
type: Mesh
name: payments
`)
	for i := 0; i < files; i++ {
		team := fmt.Sprintf("team-%03d", i/20)
		svc := fmt.Sprintf("svc-%04d", i)
		mesh := "default"
		if i%5 == 4 {
			mesh = "payments"
		}
		if i%4 == 3 {
			pkg := strings.ReplaceAll(team, "-", "")
			write(filepath.Join(team, svc+".cue"), fmt.Sprintf(`package %s

import "meshc.dev/schema"

resources: "%[2]s-timeout": schema.#MeshTimeout & {
	name: "%[2]s-timeout"
	mesh: %[3]q
	spec: {
		targetRef: {kind: "MeshService", name: %[2]q}
		from: [{targetRef: kind: "Mesh", default: http: requestTimeout: "%[4]ds"}]
		to: [{targetRef: kind: "Mesh", default: {connectionTimeout: "2s", idleTimeout: "1h"}}]
	}
}
`, pkg, svc, mesh, 5+i%20))
			continue
		}
		var body string
		switch i % 4 {
		case 0:
			body = fmt.Sprintf(`type: MeshTrafficPermission
name: allow-to-%[1]s
mesh: %[2]s
spec:
  targetRef: {kind: MeshService, name: %[1]s}
  from:
    - targetRef: {kind: MeshSubset, tags: {team: %[3]s}}
      default: {action: Allow}
`, svc, mesh, team)
		case 1:
			body = fmt.Sprintf(`type: MeshHTTPRoute
name: %[1]s-split
mesh: %[2]s
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: %[1]s}
      rules:
        - matches: [{path: {type: PathPrefix, value: /api}}]
          default:
            backendRefs:
              - {kind: MeshServiceSubset, name: %[1]s, tags: {version: v1}, weight: 90}
              - {kind: MeshServiceSubset, name: %[1]s, tags: {version: v2}, weight: 10}
`, svc, mesh)
		case 2:
			body = fmt.Sprintf(`type: MeshRetry
name: %[1]s-retries
mesh: %[2]s
spec:
  targetRef: {kind: MeshService, name: %[1]s}
  to:
    - targetRef: {kind: Mesh}
      default:
        http: {numRetries: 3, perTryTimeout: 2s, backOff: {baseInterval: 25ms, maxInterval: 250ms}, retryOn: [5xx, Reset]}
`, svc, mesh)
		}
		write(filepath.Join(team, svc+".yaml"), body)
	}
}

// BenchmarkValidate1000Cold runs `meshc validate` as a new process on a
// repo of 1,000 policy files: what CI pays per pull request. Goal: < 1 s.
// To keep the generated repo (e.g. for hyperfine), set MESHC_BENCH_REPO=DIR.
func BenchmarkValidate1000Cold(b *testing.B) {
	dir := os.Getenv("MESHC_BENCH_REPO")
	if dir == "" {
		dir = b.TempDir()
	}
	genRepo(b, dir, 1000)
	r := run(b, dir, "validate", ".")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "1000 resources in 1001 files") && !strings.HasPrefix(r.stdout, "1002 resources in 1001 files") {
		b.Fatalf("generated repo: exit %d\n%.2000s%s", r.code, r.stdout, r.stderr)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := run(b, dir, "validate", "."); r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stdout)
		}
	}
}
