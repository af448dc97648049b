package compiler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/meshc/meshc/schema"
)

// Inventory is a set of live dataplanes (a zone's or the global's
// `GET /meshes/{mesh}/dataplanes`, or a file) used to preview which proxies a
// change touches.
type Inventory struct {
	Zone          string
	Dataplanes    []schema.Resource
	ZoneIngresses []schema.Resource
}

// ProxyChange is what changes in one proxy's plan between two bundles.
type ProxyChange struct {
	Proxy ProxyKey `json:"proxy"`
	// Changes are human-readable lines, each starting with what changed
	// (routes, weights, permissions, timeouts, retries, clusters, …), sorted.
	Changes []string `json:"changes"`
}

// DiffInventory plans every dataplane of inv with the bundle from and with
// the bundle to, and returns the proxies whose plan differs (sorted by key).
func DiffInventory(from, to *Bundle, inv Inventory) ([]ProxyChange, error) {
	in := PlanInput{Zone: inv.Zone, Dataplanes: inv.Dataplanes, ZoneIngresses: inv.ZoneIngresses}
	in.Bundle = from
	before, err := Plan(in)
	if err != nil {
		return nil, fmt.Errorf("plan the inventory with the old bundle: %w", err)
	}
	in.Bundle = to
	after, err := Plan(in)
	if err != nil {
		return nil, fmt.Errorf("plan the inventory with the new bundle: %w", err)
	}
	return DiffPlans(before, after), nil
}

// DiffPlans compares two sets of plans proxy by proxy.
func DiffPlans(before, after map[ProxyKey]*ProxyPlan) []ProxyChange {
	keys := map[ProxyKey]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var out []ProxyChange
	for k := range keys {
		if cs := DiffPlan(before[k], after[k]); len(cs) > 0 {
			out = append(out, ProxyChange{Proxy: k, Changes: cs})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Proxy.String() < out[j].Proxy.String() })
	return out
}

// DiffPlan describes how plan b differs from plan a (nil: no change).
func DiffPlan(a, b *ProxyPlan) []string {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		return []string{"proxy: added"}
	case b == nil:
		return []string{"proxy: removed"}
	case a.Hash != "" && a.Hash == b.Hash:
		return nil
	}
	var cs []string
	add := func(format string, args ...any) { cs = append(cs, fmt.Sprintf(format, args...)) }
	if a.MTLS != b.MTLS {
		add("mtls: %v → %v", a.MTLS, b.MTLS)
	}
	// Inbounds by port: permissions and timeouts.
	ai, bi := inboundsByPort(a), inboundsByPort(b)
	for _, port := range diffKeys(ai, bi) {
		x, y := ai[port], bi[port]
		name := "inbound :" + port
		switch {
		case x == nil:
			add("%s (%s): added", name, y.Service)
			continue
		case y == nil:
			add("%s (%s): removed", name, x.Service)
			continue
		}
		if px, py := describePermissions(x.Permissions), describePermissions(y.Permissions); px != py {
			add("permissions %s (%s): %s → %s", name, x.Service, px, py)
		}
		if tx, ty := diffJSON(x.Timeout), diffJSON(y.Timeout); tx != ty {
			add("timeouts %s (%s): %s → %s", name, x.Service, tx, ty)
		}
	}
	// Outbounds by service: routes, weights, timeouts, retries.
	ao, bo := outboundsByService(a), outboundsByService(b)
	for _, svc := range diffKeys(ao, bo) {
		x, y := ao[svc], bo[svc]
		switch {
		case x == nil:
			add("outbound %s: added", svc)
			continue
		case y == nil:
			add("outbound %s: removed", svc)
			continue
		}
		cs = append(cs, diffRoutes(svc, x.Routes, y.Routes)...)
		if tx, ty := diffJSON(x.Timeout), diffJSON(y.Timeout); tx != ty {
			add("timeouts outbound %s: %s → %s", svc, tx, ty)
		}
		if rx, ry := diffJSON(x.Retry), diffJSON(y.Retry); rx != ry {
			add("retries outbound %s: %s → %s", svc, rx, ry)
		}
	}
	// Clusters: added/removed and their policies.
	ac, bc := clustersByName(a), clustersByName(b)
	for _, name := range diffKeys(ac, bc) {
		x, y := ac[name], bc[name]
		n := clusterLabel(name, x)
		if x == nil {
			n = clusterLabel(name, y)
		}
		switch {
		case x == nil:
			add("clusters %s: added", n)
			continue
		case y == nil:
			add("clusters %s: removed", n)
			continue
		}
		for _, f := range []struct {
			what string
			x, y any
		}{
			{"timeouts", x.Timeout, y.Timeout},
			{"circuit breaker", x.CircuitBreaker, y.CircuitBreaker},
			{"health check", x.HealthCheck, y.HealthCheck},
			{"load balancing", x.LoadBalancing, y.LoadBalancing},
		} {
			if jx, jy := diffJSON(f.x), diffJSON(f.y); jx != jy {
				add("%s cluster %s: %s → %s", f.what, n, jx, jy)
			}
		}
		if x.LocalityAware != y.LocalityAware {
			add("locality cluster %s: locality-aware %v → %v", n, x.LocalityAware, y.LocalityAware)
		}
		if ex, ey := describeEndpoints(x.Endpoints), describeEndpoints(y.Endpoints); ex != ey {
			add("endpoints cluster %s: %s → %s", n, ex, ey)
		}
	}
	sort.Strings(cs)
	if len(cs) == 0 && a.Hash != b.Hash {
		// Something the summary does not name (e.g. hosts, identities) changed.
		if ja, jb := diffJSON(a.Identities), diffJSON(b.Identities); ja != jb {
			cs = append(cs, fmt.Sprintf("identities: %s → %s", ja, jb))
		} else {
			cs = append(cs, "config: changed")
		}
	}
	return cs
}

// diffRoutes reports route changes of one outbound service: a route whose
// matches stay but whose backends change is a weights change.
func diffRoutes(svc string, a, b []*RoutePlan) []string {
	var cs []string
	am, bm := routesByMatch(a), routesByMatch(b)
	for _, m := range diffKeys(am, bm) {
		x, y := am[m], bm[m]
		where := fmt.Sprintf("outbound %s route %s", svc, m)
		switch {
		case x == nil:
			cs = append(cs, fmt.Sprintf("routes %s: added → %s", where, describeBackends(y)))
		case y == nil:
			cs = append(cs, fmt.Sprintf("routes %s: removed (was → %s)", where, describeBackends(x)))
		default:
			if dx, dy := describeBackends(x), describeBackends(y); dx != dy {
				cs = append(cs, fmt.Sprintf("weights %s: %s → %s", where, dx, dy))
			}
			if fx, fy := diffJSON(x.Filters), diffJSON(y.Filters); fx != fy {
				cs = append(cs, fmt.Sprintf("routes %s filters: %s → %s", where, fx, fy))
			}
		}
	}
	return cs
}

func routesByMatch(rs []*RoutePlan) map[string]*RoutePlan {
	out := map[string]*RoutePlan{}
	for _, r := range rs {
		k := "*"
		if r.Match != nil {
			k = diffJSON(r.Match)
		}
		if _, dup := out[k]; !dup { // first match wins, as in Envoy
			out[k] = r
		}
	}
	return out
}

func describeBackends(r *RoutePlan) string {
	parts := make([]string, len(r.Backends))
	for i, b := range r.Backends {
		parts[i] = clusterLabel(b.Name, b.Cluster) + " " + strconv.Itoa(b.Weight)
	}
	return strings.Join(parts, ", ")
}

// clusterLabel names a cluster for people: service{tag=value,…} for a subset.
func clusterLabel(name string, c *ClusterPlan) string {
	if c == nil || len(c.Tags) == 0 {
		return name
	}
	var ts []string
	for _, k := range sortedKeys(c.Tags) {
		ts = append(ts, k+"="+c.Tags[k])
	}
	return c.Service + "{" + strings.Join(ts, ",") + "}"
}

func describePermissions(p *Permissions) string {
	if p == nil || !p.Enforced {
		return "not enforced (allow all)"
	}
	if len(p.Rules) == 0 {
		return "deny all"
	}
	parts := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		src := "any"
		if !r.Source.Any {
			var ss []string
			if r.Source.Service != "" {
				ss = append(ss, r.Source.Service)
			}
			for _, k := range sortedKeys(r.Source.Tags) {
				ss = append(ss, k+"="+r.Source.Tags[k])
			}
			src = strings.Join(ss, ",")
		}
		parts[i] = r.Action + " " + src
	}
	return strings.Join(parts, "; ")
}

func describeEndpoints(e *EndpointSet) string {
	if e == nil || len(e.Endpoints) == 0 {
		return "none"
	}
	parts := make([]string, len(e.Endpoints))
	for i, ep := range e.Endpoints {
		parts[i] = fmt.Sprintf("%s:%d w%d p%d", ep.Address, ep.Port, ep.Weight, ep.Priority)
	}
	return strings.Join(parts, ", ")
}

func inboundsByPort(p *ProxyPlan) map[string]*InboundPlan {
	out := map[string]*InboundPlan{}
	for _, in := range p.Inbounds {
		out[strconv.Itoa(in.Port)] = in
	}
	return out
}

func outboundsByService(p *ProxyPlan) map[string]*OutboundService {
	out := map[string]*OutboundService{}
	for _, o := range p.Outbounds {
		if o.OutboundService != nil {
			out[o.Service] = o.OutboundService
		}
	}
	return out
}

func clustersByName(p *ProxyPlan) map[string]*ClusterPlan {
	out := map[string]*ClusterPlan{}
	for _, c := range p.Clusters {
		out[c.Name] = c
	}
	return out
}

func diffKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var ks []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				ks = append(ks, k)
			}
		}
	}
	sort.Strings(ks)
	return ks
}

func diffJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}
