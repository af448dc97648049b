package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writeRepo writes a mesh repo of n files: one Mesh, YAML policies of every
// kind (several documents in some files) and CUE packages that import the
// schema and stamp out policies from a template. About one file in five is
// CUE. It returns the number of resources written.
func writeRepo(tb testing.TB, dir string, n int) int {
	tb.Helper()
	write := func(rel, body string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("mesh.yaml", "type: Mesh\nname: default\nmtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n      type: builtin\nrouting:\n  localityAwareLoadBalancing: true\n")
	count := 1
	for i := 1; i < n; i++ {
		team := fmt.Sprintf("team-%02d", i%50)
		if i%5 == 0 {
			write(fmt.Sprintf("cue/%s/p%04d.cue", team, i), fmt.Sprintf(cueTemplate, i, i, i))
			count++
			continue
		}
		body := yamlPolicies[i%len(yamlPolicies)]
		write(fmt.Sprintf("%s/p%04d.yaml", team, i), fmt.Sprintf(body, i, i, i))
		count++
	}
	return count
}

const cueTemplate = `package policies

import "meshc.dev/schema"

#timeout: schema.#MeshTimeout & {
	mesh: "default"
	spec: to: [{targetRef: kind: "Mesh", default: http: requestTimeout: "15s"}]
}

resources: "t-%d": #timeout & {
	name: "svc-%d-timeout"
	spec: targetRef: {kind: "MeshService", name: "svc-%d"}
}
`

var yamlPolicies = []string{
	`type: MeshTrafficPermission
name: allow-%d
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: svc-%d
  from:
    - targetRef:
        kind: MeshSubset
        tags:
          kuma.io/zone: zone-%d
      default:
        action: Allow
`,
	`type: MeshHTTPRoute
name: route-%d
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: frontend
  to:
    - targetRef:
        kind: MeshService
        name: svc-%d
      rules:
        - matches:
            - path:
                type: PathPrefix
                value: /api/%d
          default:
            backendRefs:
              - kind: MeshServiceSubset
                name: backend
                tags: {kuma.io/zone: zone-a}
                weight: 90
              - kind: MeshServiceSubset
                name: backend
                tags: {kuma.io/zone: zone-b}
                weight: 10
`,
	`type: MeshRetry
name: retry-%d
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: svc-%d
  to:
    - targetRef:
        kind: Mesh
      default:
        http:
          numRetries: %d
          perTryTimeout: 2s
          backOff: {baseInterval: 25ms, maxInterval: 250ms}
          retryOn: [5xx, ConnectFailure]
`,
	`type: MeshCircuitBreaker
name: cb-%d
mesh: default
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: MeshService
        name: svc-%d
      default:
        connectionLimits: {maxConnections: %d, maxPendingRequests: 8}
        outlierDetection:
          interval: 5s
          baseEjectionTime: 30s
          detectors: {totalFailures: {consecutive: 5}}
`,
}

// BenchmarkLoad1000 loads a generated repo of 1,000 files (YAML policies and
// CUE packages that import the schema), as `meshc validate` does.
//
//	go test ./schema -run '^$' -bench Load1000 -benchmem
//
// To keep the generated repo (e.g. to time `meshc validate DIR`), set
// MESHC_SCHEMA_BENCH_REPO=DIR.
func BenchmarkLoad1000(b *testing.B) {
	dir := os.Getenv("MESHC_SCHEMA_BENCH_REPO")
	if dir == "" {
		dir = b.TempDir()
	}
	want := writeRepo(b, dir, 1000)
	loadSchema()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		rs, errs := LoadPaths(dir)
		if errs.HasErrors() || len(rs) != want {
			b.Fatalf("loaded %d of %d resources: %v", len(rs), want, errs)
		}
	}
	// CPU time (user+sys of the whole process) per load: on a shared
	// machine this is steadier than wall time.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
