package compiler

import (
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

func diffDP(name, svc, version string, port int, outbound string) schema.Resource {
	s := &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{Address: "10.0.0." + name[len(name)-1:], Inbound: []schema.Inbound{
		{Port: port, Tags: map[string]string{schema.TagService: svc, schema.TagProtocol: "http", "version": version}},
	}}}
	if outbound != "" {
		s.Networking.Outbound = []schema.Outbound{{Port: 10001, Tags: map[string]string{schema.TagService: outbound}}}
	}
	return schema.Resource{Type: schema.TypeDataplane, Mesh: "default", Name: name, Spec: s}
}

func diffPolicy(kind, name string, spec schema.PolicySpec) schema.Resource {
	return schema.Resource{Type: kind, Mesh: "default", Name: name, Spec: &schema.PolicyBody{Spec: spec}}
}

func diffBundle(extra ...schema.Resource) *Bundle {
	rs := []schema.Resource{
		{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{MTLS: &schema.MTLS{EnabledBackend: "ca", Backends: []schema.MTLSBackend{{Name: "ca", Type: "builtin"}}}}},
		diffPolicy(schema.TypeMeshTrafficPermission, "allow-all", schema.PolicySpec{
			TargetRef: schema.TargetRef{Kind: schema.KindMesh},
			From:      []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMesh}, Default: map[string]any{"action": "Allow"}}},
		}),
	}
	rs = append(rs, extra...)
	schema.SortResources(rs)
	return &Bundle{Version: "t", Resources: rs}
}

func TestDiffInventoryNamesTouchedProxies(t *testing.T) {
	inv := Inventory{Zone: "zone-a", Dataplanes: []schema.Resource{
		diffDP("web-1", "web", "v1", 8080, "backend"),
		diffDP("backend-1", "backend", "v1", 8081, ""),
		diffDP("backend-2", "backend", "v2", 8082, ""),
		diffDP("other-3", "other", "v1", 8083, ""),
	}}
	split := diffPolicy(schema.TypeMeshHTTPRoute, "split", schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "web"},
		To: []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "backend"}, Rules: []schema.RouteRule{{
			Matches: []schema.HTTPMatch{{Path: &schema.PathMatch{Type: "PathPrefix", Value: "/"}}},
			Default: schema.RouteDefault{BackendRefs: []schema.BackendRef{
				{Kind: schema.KindMeshServiceSubset, Name: "backend", Tags: map[string]string{"version": "v1"}, Weight: 80},
				{Kind: schema.KindMeshServiceSubset, Name: "backend", Tags: map[string]string{"version": "v2"}, Weight: 20},
			}},
		}}}},
	})
	deny := diffPolicy(schema.TypeMeshTrafficPermission, "deny-web", schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "backend"},
		From:      []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "web"}, Default: map[string]any{"action": "Deny"}}},
	})
	from, to := diffBundle(), diffBundle(split, deny)

	got, err := DiffInventory(from, to, inv)
	for _, c := range got {
		t.Logf("%s:\n  %s", c.Proxy, strings.Join(c.Changes, "\n  "))
	}
	if err != nil {
		t.Fatal(err)
	}
	byProxy := map[string]string{}
	for _, c := range got {
		byProxy[c.Proxy.Name] = strings.Join(c.Changes, "\n")
	}
	if _, ok := byProxy["other-3"]; ok {
		t.Errorf("other-3 is untouched but listed: %s", byProxy["other-3"])
	}
	if !strings.Contains(byProxy["web-1"], "outbound backend") || !strings.Contains(byProxy["web-1"], " 80") || !strings.Contains(byProxy["web-1"], " 20") {
		t.Errorf("web-1 changes do not show the 80/20 split:\n%s", byProxy["web-1"])
	}
	for _, b := range []string{"backend-1", "backend-2"} {
		if !strings.Contains(byProxy[b], "permissions inbound") || !strings.Contains(byProxy[b], "Deny web") {
			t.Errorf("%s changes do not show the deny of web:\n%s", b, byProxy[b])
		}
	}
	// The same bundle on both sides is no change.
	if same, _ := DiffInventory(to, to, inv); len(same) != 0 {
		t.Errorf("identical bundles differ: %v", same)
	}
	// A timeout change is named as such.
	timeout := diffPolicy(schema.TypeMeshTimeout, "slow", schema.PolicySpec{
		TargetRef: schema.TargetRef{Kind: schema.KindMesh},
		To: []schema.PolicyItem{{TargetRef: schema.TargetRef{Kind: schema.KindMeshService, Name: "backend"},
			Default: map[string]any{"http": map[string]any{"requestTimeout": "2s"}}}},
	})
	got, _ = DiffInventory(to, diffBundle(split, deny, timeout), inv)
	if len(got) != 1 || got[0].Proxy.Name != "web-1" || !strings.Contains(strings.Join(got[0].Changes, "\n"), "timeouts") {
		t.Errorf("timeout change: %+v", got)
	}
}
