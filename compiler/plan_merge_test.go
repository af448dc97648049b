package compiler

import (
	"testing"
	"time"

	"github.com/meshc/meshc/schema"
)

func ref(kind, name string, tags ...string) schema.TargetRef {
	t := schema.TargetRef{Kind: kind, Name: name}
	if len(tags) > 0 {
		t.Tags = map[string]string{}
		for i := 0; i+1 < len(tags); i += 2 {
			t.Tags[tags[i]] = tags[i+1]
		}
	}
	return t
}

func to(t schema.TargetRef, def map[string]any) schema.PolicyItem {
	return schema.PolicyItem{TargetRef: t, Default: def}
}

func secs(d *schema.Duration) time.Duration {
	if d == nil {
		return -1
	}
	return d.Duration
}

// TestMergeRule checks DESIGN.md §3: matching policies ordered by targetRef
// specificity then name, default blocks deep-merged, later wins.
func TestMergeRule(t *testing.T) {
	meshRef := ref(schema.KindMesh, "")
	b := bundle(
		mesh("default", true, false),
		// Mesh-wide, name "a": connect 1s, idle 10s, http.requestTimeout 5s.
		pol(schema.TypeMeshTimeout, "default", "a", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			to(meshRef, map[string]any{"connectionTimeout": "1s", "idleTimeout": "10s", "http": map[string]any{"requestTimeout": "5s"}}),
		}}),
		// Mesh-wide, name "z" (after "a"): idle 20s, http.streamIdleTimeout 7s (deep merge keeps requestTimeout).
		pol(schema.TypeMeshTimeout, "default", "z", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			to(meshRef, map[string]any{"idleTimeout": "20s", "http": map[string]any{"streamIdleTimeout": "7s"}}),
		}}),
		// MeshService web (more specific, though its name sorts first): connect 2s;
		// inside it a Mesh item and a more specific MeshService item for backend.
		pol(schema.TypeMeshTimeout, "default", "0-web", schema.PolicySpec{TargetRef: ref(schema.KindMeshService, "web"), To: []schema.PolicyItem{
			to(ref(schema.KindMeshService, "backend"), map[string]any{"connectionTimeout": "4s"}),
			to(meshRef, map[string]any{"connectionTimeout": "2s"}),
		}}),
		// MeshSubset version=v2 (between Mesh and MeshService).
		pol(schema.TypeMeshTimeout, "default", "subset", schema.PolicySpec{TargetRef: ref(schema.KindMeshSubset, "", "version", "v2"), To: []schema.PolicyItem{
			to(meshRef, map[string]any{"connectionTimeout": "3s", "idleTimeout": "30s"}),
		}}),
	)
	dps := []schema.Resource{
		dataplane("default", "web-1", "10.0.0.1", []schema.Inbound{inb(80, schema.TagService, "web", "version", "v2")}, outb(1001, "backend"), outb(1002, "db")),
		dataplane("default", "other-1", "10.0.0.2", []schema.Inbound{inb(80, schema.TagService, "other")}, outb(1001, "backend")),
		dataplane("default", "backend-1", "10.0.0.3", []schema.Inbound{inb(80, schema.TagService, "backend")}),
	}
	plans := mustPlan(t, PlanInput{Bundle: b, Zone: "z1", Dataplanes: dps})
	cases := []struct {
		proxy, svc           string
		connect, idle, reqTO time.Duration
		streamIdle           time.Duration
	}{
		// web: a < z < subset < 0-web; in 0-web the backend item beats the Mesh item.
		{"web-1", "backend", 4 * time.Second, 30 * time.Second, 5 * time.Second, 7 * time.Second},
		{"web-1", "db", 2 * time.Second, 30 * time.Second, 5 * time.Second, 7 * time.Second},
		// other: only the Mesh-wide policies.
		{"other-1", "backend", 1 * time.Second, 20 * time.Second, 5 * time.Second, 7 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.proxy+"->"+c.svc, func(t *testing.T) {
			var os *OutboundService
			for _, o := range plans[ProxyKey{"default", c.proxy}].Outbounds {
				if o.Service == c.svc {
					os = o.OutboundService
				}
			}
			if os == nil || os.Timeout == nil {
				t.Fatalf("no outbound timeout to %s", c.svc)
			}
			got := []time.Duration{secs(os.Timeout.ConnectionTimeout), secs(os.Timeout.IdleTimeout), secs(os.Timeout.HTTP.RequestTimeout), secs(os.Timeout.HTTP.StreamIdleTimeout)}
			want := []time.Duration{c.connect, c.idle, c.reqTO, c.streamIdle}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("connect/idle/request/streamIdle = %v, want %v", got, want)
					break
				}
			}
			if secs(os.Clusters[0].Timeout.ConnectionTimeout) != c.connect {
				t.Errorf("cluster connect timeout %v, want %v", secs(os.Clusters[0].Timeout.ConnectionTimeout), c.connect)
			}
		})
	}
}

// TestResolvedPolicies: every resolved policy kind reaches the cluster, and
// MeshLoadBalancingStrategy's locality awareness overrides the mesh switch.
func TestResolvedPolicies(t *testing.T) {
	meshRef := ref(schema.KindMesh, "")
	b := bundle(
		mesh("default", true, true),
		pol(schema.TypeMeshRetry, "default", "r", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			to(meshRef, map[string]any{"http": map[string]any{"numRetries": 3}}),
			to(ref(schema.KindMeshService, "backend"), map[string]any{"http": map[string]any{"numRetries": 5, "retryOn": []any{"5xx"}}}),
		}}),
		pol(schema.TypeMeshCircuitBreaker, "default", "cb", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			to(meshRef, map[string]any{"connectionLimits": map[string]any{"maxConnections": 10}}),
		}}),
		pol(schema.TypeMeshHealthCheck, "default", "hc", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			to(ref(schema.KindMeshService, "backend"), map[string]any{"interval": "3s"}),
		}}),
		pol(schema.TypeMeshLoadBalancingStrategy, "default", "lb", schema.PolicySpec{TargetRef: meshRef, To: []schema.PolicyItem{
			to(ref(schema.KindMeshService, "backend"), map[string]any{"localityAwareness": map[string]any{"disabled": true}, "loadBalancer": map[string]any{"type": "LeastRequest"}}),
		}}),
	)
	dps := []schema.Resource{
		dataplane("default", "web-1", "10.0.0.1", []schema.Inbound{inb(80, schema.TagService, "web")}, outb(1001, "backend"), outb(1002, "db")),
	}
	plans := mustPlan(t, PlanInput{Bundle: b, Zone: "z1", Dataplanes: dps})
	web := plans[ProxyKey{"default", "web-1"}]
	be, db := web.Outbounds[0], web.Outbounds[1]
	if n := *be.Retry.HTTP.NumRetries; n != 5 || len(be.Retry.HTTP.RetryOn) != 1 {
		t.Errorf("backend retry = %d %v, want 5 [5xx]", n, be.Retry.HTTP.RetryOn)
	}
	if n := *db.Retry.HTTP.NumRetries; n != 3 {
		t.Errorf("db retry = %d, want 3", n)
	}
	bc, dc := be.Clusters[0], db.Clusters[0]
	if *bc.CircuitBreaker.ConnectionLimits.MaxConnections != 10 || *dc.CircuitBreaker.ConnectionLimits.MaxConnections != 10 {
		t.Error("circuit breaker not on both clusters")
	}
	if bc.HealthCheck == nil || secs(bc.HealthCheck.Interval) != 3*time.Second || dc.HealthCheck != nil {
		t.Errorf("health check: backend %+v db %+v", bc.HealthCheck, dc.HealthCheck)
	}
	if bc.LocalityAware || !dc.LocalityAware {
		t.Errorf("locality aware: backend %v (policy disables) db %v (mesh enables)", bc.LocalityAware, dc.LocalityAware)
	}
	if bc.LoadBalancing.LoadBalancer.Type != "LeastRequest" {
		t.Errorf("lb type %+v", bc.LoadBalancing.LoadBalancer)
	}
}
