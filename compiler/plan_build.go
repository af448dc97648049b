package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/meshc/meshc/schema"
)

// selection is the policies of each kind that select one proxy, in merge order,
// and sig, a hash of them: proxies with the same sig share outbound parts.
type selection struct {
	byKind map[string][]*policy
	sig    string
}

func selectFor(mi *meshIndex, inbounds []schema.Inbound) selection {
	sel := selection{byKind: map[string][]*policy{}}
	if mi == nil {
		sel.sig = "no-mesh"
		return sel
	}
	h := sha256.New()
	h.Write([]byte(mi.hash))
	for _, t := range schema.PolicyTypes {
		if t == schema.TypeMeshTrafficPermission {
			continue // inbound-only: per inbound, not shared
		}
		for _, p := range mi.policies[t] {
			if selectsProxy(p.spec.TargetRef, inbounds) {
				sel.byKind[t] = append(sel.byKind[t], p)
				fmt.Fprintf(h, "\x00%s\x00%s\x00%s", t, p.name, p.hash)
			}
		}
	}
	sel.sig = hex.EncodeToString(h.Sum(nil)[:8])
	return sel
}

// selection returns the (memoized) selection of a proxy: proxies whose
// inbounds carry the same tags select the same policies.
func (p *Planner) selection(mesh string, mi *meshIndex, inbounds []schema.Inbound) selection {
	var b strings.Builder
	b.WriteString(mesh)
	for _, in := range inbounds {
		b.WriteByte('|')
		b.WriteString(canonTags(in.Tags))
	}
	key := b.String()
	if s, ok := p.memo.selections[key]; ok {
		return s
	}
	s := selectFor(mi, inbounds)
	p.memo.selections[key] = s
	return s
}

// build computes proxy k's plan from the planner's current state.
func (p *Planner) build(k ProxyKey) *ProxyPlan {
	dp := p.dps[k].DataplaneSpec()
	mi := p.meshes[k.Mesh]
	pl := &ProxyPlan{Key: k, Zone: p.zone, Address: dpAddress(dp), MTLS: mi.mtls()}
	if mi == nil || mi.spec == nil {
		pl.Warnings = append(pl.Warnings, fmt.Sprintf("mesh %q is not in the bundle: the proxy gets no policies; add the Mesh to the repository", k.Mesh))
	}
	b := &planBuild{p: p, mi: mi, mesh: k.Mesh, deps: map[svcRef]struct{}{}}
	b.sel = p.selection(k.Mesh, mi, dp.Networking.Inbound)

	ids := map[string]bool{}
	// Two listeners cannot share an address and port: the first one wins,
	// the others are left out with a warning (the rest of the proxy works).
	bound := map[string]string{}
	claim := func(addr string, port int, what string) bool {
		k := addr + ":" + itoaPort(port)
		if prev, ok := bound[k]; ok {
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("%s on %s is left out: %s already listens there; give it another port", what, k, prev))
			return false
		}
		bound[k] = what
		return true
	}
	for _, in := range dp.Networking.Inbound {
		ip := b.inbound(dp, in)
		if !claim(ip.Address, ip.Port, "inbound "+ip.Service) {
			continue
		}
		pl.Inbounds = append(pl.Inbounds, ip)
		if svc := in.Tags[schema.TagService]; svc != "" && !ids[svc] {
			ids[svc] = true
			pl.Services = append(pl.Services, svc)
		}
	}
	sort.Strings(pl.Services)
	for _, svc := range pl.Services {
		pl.Identities = append(pl.Identities, SPIFFE(k.Mesh, svc))
	}

	for _, o := range dp.Networking.Outbound {
		svc := o.Tags[schema.TagService]
		addr := o.Address
		if addr == "" {
			addr = "127.0.0.1"
		}
		if !claim(addr, o.Port, "outbound to "+svc) {
			continue
		}
		pl.Outbounds = append(pl.Outbounds, &OutboundPlan{Kind: OutboundExplicit, Address: addr, Port: o.Port, OutboundService: b.outbound(svc, subsetTags(o.Tags))})
	}
	explicit := len(pl.Outbounds)
	if len(p.vips[k.Mesh]) > 0 {
		pl.VIPSet = b.vipSet()
		pl.Outbounds = append(pl.Outbounds, pl.VIPSet.Outbounds...)
		p.vipProxies[k] = true
	} else {
		delete(p.vipProxies, k)
	}
	pl.Warnings = append(pl.Warnings, b.warnings...)

	// Clusters: the VIP set's (shared slice) when the explicit outbounds add none.
	var extra []*ClusterPlan
	seen := map[*ClusterPlan]bool{}
	for _, o := range pl.Outbounds[:explicit] {
		for _, c := range o.Clusters {
			if !seen[c] && (pl.VIPSet == nil || pl.VIPSet.Cluster(c.Name) != c) {
				seen[c] = true
				extra = append(extra, c)
			}
		}
	}
	switch {
	case pl.VIPSet == nil:
		pl.Clusters = extra
	case len(extra) == 0:
		pl.Clusters = pl.VIPSet.Clusters // shared and already sorted
	default:
		pl.Clusters = append(append([]*ClusterPlan(nil), pl.VIPSet.Clusters...), extra...)
	}
	if pl.VIPSet == nil || len(extra) > 0 {
		sort.Slice(pl.Clusters, func(i, j int) bool { return pl.Clusters[i].Name < pl.Clusters[j].Name })
	}

	parts := []string{pl.Address, fmt.Sprint(pl.MTLS)}
	for _, in := range pl.Inbounds {
		parts = append(parts, in.Address, in.Hash)
	}
	for _, o := range pl.Outbounds[:explicit] {
		parts = append(parts, o.Kind, o.Address, itoaPort(o.Port), o.Host, o.Hash)
	}
	if pl.VIPSet != nil {
		parts = append(parts, "vips", pl.VIPSet.Hash)
	}
	pl.Hash = hashStrings(parts...)

	refs := make([]svcRef, 0, len(b.deps))
	for r := range b.deps {
		refs = append(refs, r)
	}
	p.recordDeps(k, refs)
	return pl
}

// planBuild is the state of one proxy's build.
type planBuild struct {
	p        *Planner
	mi       *meshIndex
	mesh     string
	sel      selection
	deps     map[svcRef]struct{}
	warnings []string
}

func (b *planBuild) inbound(dp *schema.DataplaneSpec, in schema.Inbound) *InboundPlan {
	ip := &InboundPlan{
		Address:     in.Address,
		Port:        in.Port,
		ServicePort: in.ServicePort,
		Service:     in.Tags[schema.TagService],
		Protocol:    protocolOf(in.Tags),
		Tags:        in.Tags,
		Permissions: permissions(b.mi, in.Tags),
	}
	if ip.Address == "" {
		ip.Address = dp.Networking.Address
	}
	if ip.ServicePort == 0 {
		ip.ServicePort = in.Port
	}
	if b.mi != nil {
		var ps []*policy
		for _, p := range b.mi.policies[schema.TypeMeshTimeout] {
			if selectsInbound(p.spec.TargetRef, in.Tags) {
				ps = append(ps, p)
			}
		}
		t, err := decodeConf[schema.TimeoutConf](mergeFromAny(ps))
		if err != nil {
			b.warnings = append(b.warnings, fmt.Sprintf("inbound %d: MeshTimeout: %v", in.Port, err))
		}
		ip.Timeout = t
	}
	ip.Hash = hashJSON(struct {
		Port, ServicePort int
		Service, Protocol string
		Tags              map[string]string
		Perm              *Permissions
		Timeout           *schema.TimeoutConf
	}{ip.Port, ip.ServicePort, ip.Service, ip.Protocol, ip.Tags, ip.Permissions, ip.Timeout})
	return ip
}

func protocolOf(tags map[string]string) string {
	switch p := tags[schema.TagProtocol]; p {
	case ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC:
		return p
	}
	return ProtocolTCP
}

// outbound returns the (shared) OutboundService of svc for this proxy's policies.
func (b *planBuild) outbound(svc string, subset map[string]string) *OutboundService {
	p := b.p
	key := outboundKey{mesh: b.mesh, sig: b.sel.sig, svc: svc, subset: canonTags(subset)}
	if e := p.memo.outbounds[key]; e != nil && p.depsCurrent(b.mesh, e.deps) {
		for r := range e.deps {
			b.deps[r] = struct{}{}
		}
		b.warnings = append(b.warnings, e.warnings...)
		return e.os
	}
	ob := &outboundBuild{planBuild: b, deps: map[svcRef]uint64{}}
	os := ob.build(svc, subset)
	p.memo.outbounds[key] = &outboundEntry{os: os, deps: ob.deps, warnings: ob.warnings}
	for r := range ob.deps {
		b.deps[r] = struct{}{}
	}
	b.warnings = append(b.warnings, ob.warnings...)
	return os
}

// depsCurrent reports whether every recorded service generation is current.
func (p *Planner) depsCurrent(mesh string, deps map[svcRef]uint64) bool {
	for r, g := range deps {
		var cur uint64
		if s := p.svc(r.mesh, r.svc); s != nil {
			cur = s.gen
		}
		if cur != g {
			return false
		}
	}
	return true
}

// vipSet returns the (shared) VIP outbounds of the mesh for this proxy's
// policies. Proxies do not record the set's services as their own
// dependencies: a change to any VIP'd service affects every proxy with VIPs.
func (b *planBuild) vipSet() *OutboundSet {
	p := b.p
	key := vipSetKey{mesh: b.mesh, sig: b.sel.sig}
	if e := p.memo.vipSets[key]; e != nil && e.vipGen == p.vipGen[b.mesh] && (e.checkedAt == p.gen || p.depsCurrent(b.mesh, e.deps)) {
		e.checkedAt = p.gen // nothing changed since: no need to check again
		b.warnings = append(b.warnings, e.warnings...)
		return e.set
	}
	// Build with a separate dependency and warning collector.
	proxyDeps, proxyWarnings := b.deps, b.warnings
	b.deps, b.warnings = map[svcRef]struct{}{}, nil
	set := &OutboundSet{byName: map[string]*ClusterPlan{}}
	parts := []string{}
	for _, v := range p.vips[b.mesh] {
		o := &OutboundPlan{Kind: OutboundVIP, Address: v.Address, Port: v.Port, Host: v.Host, OutboundService: b.outbound(v.Service, subsetTags(v.Tags))}
		set.Outbounds = append(set.Outbounds, o)
		parts = append(parts, o.Address, itoaPort(o.Port), o.Host, o.Hash)
		for _, c := range o.Clusters {
			if set.byName[c.Name] == nil {
				set.byName[c.Name] = c
				set.Clusters = append(set.Clusters, c)
			}
		}
	}
	sort.Slice(set.Clusters, func(i, j int) bool { return set.Clusters[i].Name < set.Clusters[j].Name })
	set.Hash = hashStrings(parts...)
	deps := map[svcRef]uint64{}
	for r := range b.deps {
		var g uint64
		if s := p.svc(r.mesh, r.svc); s != nil {
			g = s.gen
		}
		deps[r] = g
	}
	e := &vipSetEntry{set: set, deps: deps, warnings: b.warnings, vipGen: p.vipGen[b.mesh], checkedAt: p.gen}
	p.memo.vipSets[key] = e
	b.deps, b.warnings = proxyDeps, append(proxyWarnings, e.warnings...)
	return set
}
