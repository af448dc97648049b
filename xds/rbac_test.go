package xds

import (
	"fmt"
	"math/rand"
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"

	"github.com/meshc/meshc/compiler"
)

// allows evaluates an ALLOW RBAC config for a client presenting uris, the way
// Envoy does: some principal of some policy matches.
func allows(r *rbacv3.RBAC, uris map[string]bool) bool {
	var match func(p *rbacv3.Principal) bool
	match = func(p *rbacv3.Principal) bool {
		switch id := p.Identifier.(type) {
		case *rbacv3.Principal_Any:
			return true
		case *rbacv3.Principal_Authenticated_:
			return uris[id.Authenticated.GetPrincipalName().GetExact()]
		case *rbacv3.Principal_AndIds:
			for _, q := range id.AndIds.Ids {
				if !match(q) {
					return false
				}
			}
			return true
		case *rbacv3.Principal_OrIds:
			for _, q := range id.OrIds.Ids {
				if match(q) {
					return true
				}
			}
			return false
		case *rbacv3.Principal_NotId:
			return !match(id.NotId)
		}
		panic(fmt.Sprintf("unexpected principal %T", p.Identifier))
	}
	for _, pol := range r.Policies {
		for _, p := range pol.Principals {
			if match(p) {
				return true
			}
		}
	}
	return false
}

// TestRBACMatchesVerdict compiles random last-match-wins permission rules to
// RBAC and checks, for every client, that Envoy's evaluation never allows
// what the plan's verdict denies, and agrees exactly: certificates prove
// tags by kuma://<tag>/<value> URI SANs, so subset rules are exact.
func TestRBACMatchesVerdict(t *testing.T) {
	sources := []compiler.Source{
		{Any: true}, {Service: "web"}, {Service: "db"},
		{Service: "web", Tags: map[string]string{"version": "v1"}},
		{Tags: map[string]string{"kuma.io/service": "db"}},
		{Service: "web", Tags: map[string]string{"version": "v2", "kuma.io/zone": "zone-b"}},
		{Tags: map[string]string{"kuma.io/zone": "zone-b"}},
	}
	type client struct {
		svc  string
		tags map[string]string
	}
	clients := []client{{"web", map[string]string{"version": "v1"}}, {"web", map[string]string{"version": "v2"}},
		{"web", map[string]string{"version": "v2", "kuma.io/zone": "zone-b"}}, {"db", map[string]string{"kuma.io/zone": "zone-b"}}, {"db", nil}, {"other", nil}}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		perm := &compiler.Permissions{Enforced: true}
		for n := rng.Intn(5); n > 0; n-- {
			src := sources[rng.Intn(len(sources))]
			action := []string{compiler.ActionAllow, compiler.ActionDeny}[rng.Intn(2)]
			perm.Rules = append(perm.Rules, compiler.PermissionRule{Source: src, Action: action, Policy: "p"})
		}
		rules := rbacRules("default", perm)
		if err := rules.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			uris := map[string]bool{compiler.SPIFFE("default", c.svc): true}
			for k, v := range c.tags {
				uris[compiler.TagURI(k, v)] = true
			}
			want, _ := perm.Verdict(c.svc, c.tags)
			if got := allows(rules, uris); got != want {
				t.Fatalf("rules %+v: RBAC allows=%v for %v, plan says %v", perm.Rules, got, c, want)
			}
		}
	}
}
