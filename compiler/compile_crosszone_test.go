package compiler

import "testing"

func TestCompileWarnsZoneSubsetsWithoutMTLS(t *testing.T) {
	t.Parallel()
	plain := "type: Mesh\nname: plain\n"
	route := `type: MeshHTTPRoute
name: by-zone
mesh: plain
spec:
  targetRef: {kind: Mesh}
  to:
  - targetRef: {kind: MeshService, name: backend}
    rules:
    - default:
        backendRefs:
        - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-a}, weight: 90}
        - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-b}, weight: 10}
`
	rs := repo(t, plain, route)
	b, errs := Compile(rs, Options{})
	if b == nil {
		t.Fatalf("warnings must not block the bundle: %v", errs)
	}
	msg := `selects kuma.io/zone in mesh "plain", which has no mTLS`
	checkDiagnostics(t, rs, errs, []want{
		w("MeshHTTPRoute/plain/by-zone", "spec.to[0].rules[0].default.backendRefs[0].tags", msg),
		w("MeshHTTPRoute/plain/by-zone", "spec.to[0].rules[0].default.backendRefs[1].tags", msg),
	})
}
