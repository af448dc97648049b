package compiler

import (
	"fmt"
	"sort"

	"github.com/meshc/meshc/schema"
)

// outboundBuild builds one OutboundService, recording the services it reads.
type outboundBuild struct {
	*planBuild
	deps     map[svcRef]uint64
	warnings []string
}

func (ob *outboundBuild) read(svc string) *svcInfo {
	s := ob.p.svc(ob.mesh, svc)
	var g uint64
	if s != nil {
		g = s.gen
	}
	ob.deps[svcRef{ob.mesh, svc}] = g
	return s
}

func (ob *outboundBuild) warn(format string, args ...any) {
	ob.warnings = append(ob.warnings, fmt.Sprintf(format, args...))
}

func (ob *outboundBuild) build(svc string, subset map[string]string) *OutboundService {
	info := ob.read(svc)
	protocol := ProtocolTCP
	if info != nil {
		protocol = info.protocol()
	}
	os := &OutboundService{Service: svc, Subset: subset, Protocol: protocol, Hosts: ServiceHosts(svc)}
	if info == nil {
		ob.warn("outbound to %q: no instance of this service is known in mesh %q (yet)", svc, ob.mesh)
	}
	sel := ob.sel.byKind

	defaultBackends := []schema.BackendRef{{Kind: schema.KindMeshService, Name: svc, Tags: subset, Weight: 1}}
	defaultPolicy := ""
	if subset == nil {
		if refs, name := tcpRouteBackends(sel[schema.TypeMeshTCPRoute], svc); refs != nil {
			defaultBackends, defaultPolicy = refs, name
		}
	}
	if subset == nil && IsHTTP(protocol) {
		for _, r := range httpRoutes(sel[schema.TypeMeshHTTPRoute], svc) {
			if rp := ob.route(r.match, r.rule.Default.Filters, r.rule.Default.BackendRefs, r.policy); rp != nil {
				os.Routes = append(os.Routes, rp)
			}
		}
	}
	if !hasCatchAll(os.Routes) {
		if rp := ob.route(nil, nil, defaultBackends, defaultPolicy); rp != nil {
			os.Routes = append(os.Routes, rp)
		} else {
			os.Routes = append(os.Routes, ob.route(nil, nil, []schema.BackendRef{{Name: svc, Weight: 1}}, ""))
		}
	}

	var err error
	if os.Timeout, err = decodeConf[schema.TimeoutConf](mergeTo(sel[schema.TypeMeshTimeout], svc)); err != nil {
		ob.warn("outbound to %q: MeshTimeout: %v", svc, err)
	}
	if os.Retry, err = decodeConf[schema.RetryConf](mergeTo(sel[schema.TypeMeshRetry], svc)); err != nil {
		ob.warn("outbound to %q: MeshRetry: %v", svc, err)
	}

	seen := map[*ClusterPlan]bool{}
	for _, r := range os.Routes {
		cs := make([]*ClusterPlan, 0, len(r.Backends)+1)
		for _, w := range r.Backends {
			cs = append(cs, w.Cluster)
		}
		if r.Mirror != nil {
			cs = append(cs, r.Mirror.Cluster)
		}
		for _, c := range cs {
			if !seen[c] {
				seen[c] = true
				os.Clusters = append(os.Clusters, c)
			}
		}
	}
	sort.Slice(os.Clusters, func(i, j int) bool { return os.Clusters[i].Name < os.Clusters[j].Name })
	parts := []string{svc, canonTags(subset), protocol, hashJSON(os.Routes), hashJSON(os.Timeout), hashJSON(os.Retry)}
	for _, c := range os.Clusters {
		parts = append(parts, c.Hash)
	}
	os.Hash = hashStrings(parts...)
	return os
}

// route turns backendRefs into a route; nil when every arm has weight 0.
func (ob *outboundBuild) route(m *schema.HTTPMatch, filters []schema.HTTPFilter, refs []schema.BackendRef, policyName string) *RoutePlan {
	rp := &RoutePlan{Match: m, Filters: filters, Policy: policyName}
	idx := map[string]int{}
	for _, ref := range refs {
		if ref.Weight <= 0 {
			continue
		}
		c := ob.cluster(ref.Name, subsetTags(ref.Tags))
		if i, ok := idx[c.Name]; ok {
			rp.Backends[i].Weight += ref.Weight
			continue
		}
		idx[c.Name] = len(rp.Backends)
		rp.Backends = append(rp.Backends, WeightedCluster{Cluster: c, Name: c.Name, Weight: ref.Weight})
	}
	for _, f := range filters {
		if f.Type != "RequestMirror" || f.RequestMirror == nil {
			continue
		}
		m, err := schema.DecodeConf[struct {
			BackendRef schema.BackendRef `json:"backendRef"`
			Percentage *float64          `json:"percentage"`
		}](f.RequestMirror)
		if err != nil || m.BackendRef.Name == "" {
			ob.warn("%s: RequestMirror without a backendRef is ignored", policyName)
			continue
		}
		c := ob.cluster(m.BackendRef.Name, subsetTags(m.BackendRef.Tags))
		pct := 100.0
		if m.Percentage != nil {
			pct = *m.Percentage
		}
		rp.Mirror = &Mirror{Cluster: c, Name: c.Name, Percent: pct}
	}
	if len(rp.Backends) == 0 && rp.IsRedirect() {
		return rp
	}
	if len(rp.Backends) == 0 {
		if policyName != "" {
			ob.warn("%s: a rule whose backendRefs all have weight 0 is skipped", policyName)
		}
		return nil
	}
	return rp
}

// cluster returns the (shared) cluster of a service or subset for this proxy's policies.
func (ob *outboundBuild) cluster(svc string, subset map[string]string) *ClusterPlan {
	p := ob.p
	info := ob.read(svc)
	var gen uint64
	if info != nil {
		gen = info.gen
	}
	key := clusterKey{mesh: ob.mesh, sig: ob.sel.sig, svc: svc, subset: canonTags(subset)}
	if e, ok := p.memo.clusters[key]; ok && e.gen == gen {
		return e.cp
	}
	sel := ob.sel.byKind
	cp := &ClusterPlan{
		Name: ClusterName(svc, subset), Mesh: ob.mesh, Service: svc, Tags: subset,
		SNI: SNI(ob.mesh, svc, subset), MTLS: ob.mi.mtls(), SPIFFE: SPIFFE(ob.mesh, svc),
		Protocol: ProtocolTCP, LocalityAware: ob.mi.localityAware(),
	}
	if info != nil {
		cp.Protocol = info.protocol()
	}
	var err error
	if cp.Timeout, err = decodeConf[schema.TimeoutConf](mergeTo(sel[schema.TypeMeshTimeout], svc)); err != nil {
		ob.warn("cluster %q: MeshTimeout: %v", cp.Name, err)
	}
	if cp.CircuitBreaker, err = decodeConf[schema.CircuitBreakerConf](mergeTo(sel[schema.TypeMeshCircuitBreaker], svc)); err != nil {
		ob.warn("cluster %q: MeshCircuitBreaker: %v", cp.Name, err)
	}
	if cp.HealthCheck, err = decodeConf[schema.HealthCheckConf](mergeTo(sel[schema.TypeMeshHealthCheck], svc)); err != nil {
		ob.warn("cluster %q: MeshHealthCheck: %v", cp.Name, err)
	}
	if cp.LoadBalancing, err = decodeConf[schema.LoadBalancingConf](mergeTo(sel[schema.TypeMeshLoadBalancingStrategy], svc)); err != nil {
		ob.warn("cluster %q: MeshLoadBalancingStrategy: %v", cp.Name, err)
	}
	if lb := cp.LoadBalancing; lb != nil && lb.LocalityAwareness != nil {
		cp.LocalityAware = !lb.LocalityAwareness.Disabled
	}
	if info != nil && info.external != nil {
		ob.externalCluster(cp, info.external)
	}
	cp.ConfigHash = hashJSON(cp) // before Endpoints is set: the cluster's own config
	cp.Endpoints = p.endpointSet(ob.mesh, svc, subset, cp.MTLS, cp.LocalityAware, info)
	cp.Hash = hashStrings(cp.ConfigHash, cp.Endpoints.Hash)
	p.memo.clusters[key] = clusterEntry{cp: cp, gen: gen}
	return cp
}

// endpointSet returns the (shared) endpoints of a service or subset.
func (p *Planner) endpointSet(mesh, svc string, subset map[string]string, mtls, la bool, info *svcInfo) *EndpointSet {
	eg := p.egressFor(mesh)
	key := endpointKey{mesh: mesh, svc: svc, subset: canonTags(subset), mtls: mtls, localityAware: la, egress: eg.String()}
	var gen uint64
	if info != nil {
		gen = info.gen
	}
	if es, ok := p.memo.endpoints[key]; ok && p.memo.epGen[key] == gen {
		return es
	}
	es := info.endpoints(p.zone, subset, mtls, la, eg)
	p.memo.endpoints[key] = es
	p.memo.epGen[key] = gen
	return es
}

// ruleAt is one HTTP route rule with a single match, and its policy.
type ruleAt struct {
	match  *schema.HTTPMatch
	rule   schema.RouteRule
	policy string
}

// httpRoutes merges the MeshHTTPRoutes selecting a proxy for traffic to svc:
// rules in merge order, a later rule with the same matches replacing an
// earlier one; then each match becomes its own route, most specific first.
func httpRoutes(ps []*policy, svc string) []ruleAt {
	type keyed struct {
		key string
		ruleAt
		matches []schema.HTTPMatch
	}
	var rules []keyed
	for _, p := range ps {
		for _, it := range p.spec.To {
			if !routeTargets(it.TargetRef, svc) {
				continue
			}
			for _, r := range it.Rules {
				k := hashJSON(r.Matches)
				kept := rules[:0]
				for _, e := range rules {
					if e.key != k {
						kept = append(kept, e)
					}
				}
				rules = append(kept, keyed{key: k, ruleAt: ruleAt{rule: r, policy: p.name}, matches: r.Matches})
			}
		}
	}
	var out []ruleAt
	for _, r := range rules {
		if len(r.matches) == 0 {
			out = append(out, r.ruleAt)
			continue
		}
		for i := range r.matches {
			m := r.matches[i]
			out = append(out, ruleAt{match: &m, rule: r.rule, policy: r.policy})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return matchRank(out[i].match).less(matchRank(out[j].match)) })
	return out
}

func routeTargets(t schema.TargetRef, svc string) bool {
	return (t.Kind == schema.KindMeshService || t.Kind == schema.KindMeshServiceSubset) && t.Name == svc
}

// tcpRouteBackends returns the backendRefs of the last MeshTCPRoute rule for svc.
func tcpRouteBackends(ps []*policy, svc string) ([]schema.BackendRef, string) {
	var refs []schema.BackendRef
	name := ""
	for _, p := range ps {
		for _, it := range p.spec.To {
			if !routeTargets(it.TargetRef, svc) {
				continue
			}
			for _, r := range it.Rules {
				if len(r.Default.BackendRefs) > 0 {
					refs, name = r.Default.BackendRefs, p.name
				}
			}
		}
	}
	return refs, name
}

// rank orders matches: exact path, then longer prefixes, then regexes, then
// no path; more method/header/query conditions first on ties.
type rank struct{ kind, length, conds int }

func (a rank) less(b rank) bool {
	if a.kind != b.kind {
		return a.kind > b.kind
	}
	if a.length != b.length {
		return a.length > b.length
	}
	return a.conds > b.conds
}

func matchRank(m *schema.HTTPMatch) rank {
	if m == nil {
		return rank{}
	}
	r := rank{conds: len(m.Headers) + len(m.QueryParams)}
	if m.Method != "" {
		r.conds++
	}
	if m.Path != nil {
		switch m.Path.Type {
		case "Exact":
			r.kind = 3
		case "PathPrefix":
			r.kind = 2
		case "RegularExpression":
			r.kind = 1
		}
		r.length = len(m.Path.Value)
	}
	return r
}

// hasCatchAll reports whether some route matches every request.
func hasCatchAll(rs []*RoutePlan) bool {
	for _, r := range rs {
		m := r.Match
		if m == nil || (m.Method == "" && len(m.Headers) == 0 && len(m.QueryParams) == 0 &&
			(m.Path == nil || (m.Path.Type == "PathPrefix" && m.Path.Value == "/"))) {
			return true
		}
	}
	return false
}
