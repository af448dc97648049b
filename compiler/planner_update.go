package compiler

import (
	"slices"
	"sort"

	"github.com/meshc/meshc/schema"
)

// svcRef names a service of a mesh.
type svcRef struct{ mesh, svc string }

// affected collects proxy keys without duplicates.
type affected map[ProxyKey]struct{}

func (a affected) add(k ProxyKey) { a[k] = struct{}{} }

func (a affected) keys() []ProxyKey {
	ks := make([]ProxyKey, 0, len(a))
	for k := range a {
		ks = append(ks, k)
	}
	sortKeys(ks)
	return ks
}

// dirty marks proxies for recomputation and returns their keys, sorted.
func (p *Planner) dirty(a affected) []ProxyKey {
	ks := a.keys()
	for _, k := range ks {
		if _, ok := p.dps[k]; ok {
			p.plans[k] = nil
		}
	}
	return ks
}

func (p *Planner) nextGen() uint64 { p.gen++; return p.gen }

func (p *Planner) svc(mesh, svc string) *svcInfo {
	if m := p.services[mesh]; m != nil {
		return m[svc]
	}
	return nil
}

// touchService bumps a service's generation and marks every proxy that read it.
func (p *Planner) touchService(mesh, svc string, a affected) {
	if s := p.svc(mesh, svc); s != nil {
		s.gen = p.nextGen()
	}
	for k := range p.users[svcRef{mesh, svc}] {
		a.add(k)
	}
	if p.vipSvcs[mesh][svc] {
		for k := range p.vipProxies {
			if k.Mesh == mesh {
				a.add(k)
			}
		}
	}
}

func (p *Planner) ensureSvc(mesh, svc string) *svcInfo {
	m := p.services[mesh]
	if m == nil {
		m = map[string]*svcInfo{}
		p.services[mesh] = m
	}
	s := m[svc]
	if s == nil {
		s = &svcInfo{gen: p.nextGen()}
		m[svc] = s
	}
	return s
}

func (p *Planner) dropIfEmpty(mesh, svc string) {
	if s := p.svc(mesh, svc); s != nil && len(s.local) == 0 && len(s.remote) == 0 && s.external == nil {
		delete(p.services[mesh], svc)
	}
}

func (p *Planner) setBundle(b *Bundle) []ProxyKey {
	old := p.meshes
	p.bundle = b
	p.meshes = indexBundle(b)
	// Shared parts built from the old policies are not reused; endpoint sets are.
	p.memo.resetPolicies()
	type meshDiff struct {
		whole   bool
		changes []policyChange
	}
	diffs := map[string]meshDiff{}
	for name := range union(old, p.meshes) {
		whole, changes := diffMesh(old[name], p.meshes[name])
		if whole || len(changes) > 0 {
			diffs[name] = meshDiff{whole, changes}
		}
	}
	a := affected{}
	for k, r := range p.dps {
		d, ok := diffs[k.Mesh]
		if !ok {
			continue
		}
		if d.whole {
			a.add(k)
			continue
		}
		inbounds := r.DataplaneSpec().Networking.Inbound
		deps, known := p.depNames(k)
		vips := p.vipSvcs[k.Mesh]
		if !p.vipProxies[k] {
			vips = nil
		}
		reads := func(svc string) bool { return deps[svc] || vips[svc] }
		for _, c := range d.changes {
			if c.touches(inbounds, reads, known) {
				a.add(k)
				break
			}
		}
	}
	p.setExternals(b, a)
	return p.dirty(a)
}

// policyChange is a policy added (old nil), removed (new nil) or changed.
type policyChange struct {
	kind     string
	old, new *policy
}

// diffMesh compares two versions of a mesh: whole is true when the Mesh
// resource itself changed (every proxy of the mesh is affected).
func diffMesh(o, n *meshIndex) (whole bool, changes []policyChange) {
	if o == nil || n == nil || o.hash != n.hash || (o.spec == nil) != (n.spec == nil) {
		return true, nil
	}
	for _, t := range schema.PolicyTypes {
		byName := map[string]*policy{}
		for _, p := range o.policies[t] {
			byName[p.name] = p
		}
		for _, p := range n.policies[t] {
			if q, ok := byName[p.name]; ok {
				delete(byName, p.name)
				if q.hash == p.hash {
					continue
				}
				changes = append(changes, policyChange{kind: t, old: q, new: p})
				continue
			}
			changes = append(changes, policyChange{kind: t, new: p})
		}
		for _, q := range byName {
			changes = append(changes, policyChange{kind: t, old: q})
		}
	}
	return false, changes
}

// touches reports whether a policy change can alter the plan of a proxy with
// these inbounds that read the services deps (known=false: not built yet, so
// every selected proxy counts). A policy whose `to` items all name services
// only touches proxies that send to one of them; `from` items (and
// MeshTrafficPermission) touch every selected proxy.
func (c policyChange) touches(inbounds []schema.Inbound, reads func(svc string) bool, known bool) bool {
	for _, p := range []*policy{c.old, c.new} {
		if p == nil || !selectsProxy(p.spec.TargetRef, inbounds) {
			continue
		}
		if !known || len(p.spec.From) > 0 || c.kind == schema.TypeMeshTrafficPermission {
			return true
		}
		for _, it := range p.spec.To {
			switch it.TargetRef.Kind {
			case schema.KindMeshService, schema.KindMeshServiceSubset:
				if reads(it.TargetRef.Name) {
					return true
				}
			case schema.KindMeshSubset:
				svc, ok := it.TargetRef.Tags[schema.TagService]
				if !ok || reads(svc) {
					return true
				}
			default:
				return true
			}
		}
	}
	return false
}

// depNames returns the services proxy k's current plan read (false when it
// has not been built).
func (p *Planner) depNames(k ProxyKey) (map[string]bool, bool) {
	refs, ok := p.deps[k]
	if !ok {
		return nil, false
	}
	out := make(map[string]bool, len(refs))
	for _, r := range refs {
		out[r.svc] = true
	}
	return out, true
}

func (p *Planner) proxyKeys() []ProxyKey {
	ks := make([]ProxyKey, 0, len(p.dps))
	for k := range p.dps {
		ks = append(ks, k)
	}
	return ks
}

func (p *Planner) upsertDataplane(r schema.Resource) []ProxyKey {
	k := ProxyKey{Mesh: r.Mesh, Name: r.Name}
	a := affected{}
	a.add(k)
	var oldInst map[string][]instance
	if old := p.dps[k]; old != nil {
		oldInst = instancesOf(k, old.DataplaneSpec())
	}
	rc := r
	p.dps[k] = &rc
	newInst := instancesOf(k, rc.DataplaneSpec())
	if hashJSON(instKeys(oldInst)) != hashJSON(instKeys(newInst)) {
		p.replaceInstances(k, oldInst, newInst, a)
	}
	return p.dirty(a)
}

func (p *Planner) deleteDataplane(k ProxyKey) []ProxyKey {
	old := p.dps[k]
	if old == nil {
		return nil
	}
	a := affected{}
	a.add(k)
	p.replaceInstances(k, instancesOf(k, old.DataplaneSpec()), nil, a)
	delete(p.dps, k)
	delete(p.plans, k)
	delete(p.vipProxies, k)
	p.forgetDeps(k)
	return p.dirty(a)
}

// instKeys is a comparable form of a dataplane's instances.
func instKeys(m map[string][]instance) map[string][]string {
	out := map[string][]string{}
	for svc, ins := range m {
		for _, in := range ins {
			out[svc] = append(out[svc], in.address+"|"+itoaPort(in.port)+"|"+canonTags(in.tags))
		}
	}
	return out
}

// replaceInstances swaps a dataplane's instances in the service index.
func (p *Planner) replaceInstances(k ProxyKey, old, cur map[string][]instance, a affected) {
	for svc := range old {
		s := p.svc(k.Mesh, svc)
		if s == nil {
			continue
		}
		kept := s.local[:0]
		for _, in := range s.local {
			if in.proxy != k {
				kept = append(kept, in)
			}
		}
		s.local = kept
	}
	for svc, ins := range cur {
		s := p.ensureSvc(k.Mesh, svc)
		s.local = append(s.local, ins...)
	}
	for svc := range union(old, cur) {
		p.touchService(k.Mesh, svc, a)
		p.dropIfEmpty(k.Mesh, svc)
	}
}

func union[V any](a, b map[string]V) map[string]struct{} {
	out := map[string]struct{}{}
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}

func (p *Planner) setZoneIngresses(rs []schema.Resource) []ProxyKey {
	before := p.remoteSnapshot()
	p.ingresses = map[string]*schema.Resource{}
	for _, svcs := range p.services {
		for _, s := range svcs {
			s.remote = nil
		}
	}
	for i := range rs {
		r := rs[i]
		p.ingresses[r.Name] = &r
		for mesh, svcs := range remoteEntriesOf(&r, p.zone) {
			for svc, es := range svcs {
				s := p.ensureSvc(mesh, svc)
				s.remote = append(s.remote, es...)
			}
		}
	}
	after := p.remoteSnapshot()
	a := affected{}
	for ref := range union(before, after) {
		if before[ref] != after[ref] {
			mesh, svc := splitRef(ref)
			p.touchService(mesh, svc, a)
			p.dropIfEmpty(mesh, svc)
		}
	}
	return p.dirty(a)
}

// remoteSnapshot hashes each service's remote entries ("mesh\x00svc" → hash).
func (p *Planner) remoteSnapshot() map[string]string {
	out := map[string]string{}
	for mesh, svcs := range p.services {
		for svc, s := range svcs {
			if len(s.remote) == 0 {
				continue
			}
			var parts []string
			for _, r := range s.remote {
				parts = append(parts, r.ingress, r.zone, r.address, itoaPort(r.port), canonTags(r.tags), itoaPort(r.instances))
			}
			out[mesh+"\x00"+svc] = hashStrings(parts...)
		}
	}
	return out
}

func splitRef(ref string) (string, string) {
	for i := 0; i < len(ref); i++ {
		if ref[i] == 0 {
			return ref[:i], ref[i+1:]
		}
	}
	return ref, ""
}

func (p *Planner) setVIPs(v map[string][]VIPListener) []ProxyKey {
	a := affected{}
	changed := map[string]bool{}
	for mesh := range union(p.vips, v) {
		if hashJSON(p.vips[mesh]) != hashJSON(v[mesh]) {
			changed[mesh] = true
		}
	}
	p.vips = v
	for mesh := range changed {
		p.vipGen[mesh] = p.nextGen()
		p.vipSvcs[mesh] = map[string]bool{}
		for _, l := range v[mesh] {
			p.vipSvcs[mesh][l.Service] = true
		}
	}
	for k := range p.dps {
		if changed[k.Mesh] {
			a.add(k)
		}
	}
	return p.dirty(a)
}

// recordDeps replaces the services proxy k's plan read.
func (p *Planner) recordDeps(k ProxyKey, refs []svcRef) {
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].mesh != refs[j].mesh {
			return refs[i].mesh < refs[j].mesh
		}
		return refs[i].svc < refs[j].svc
	})
	if prev, ok := p.deps[k]; ok && slices.Equal(prev, refs) {
		return // unchanged: keep the index as it is
	}
	p.forgetDeps(k)
	p.deps[k] = refs
	for _, r := range refs {
		m := p.users[r]
		if m == nil {
			m = map[ProxyKey]struct{}{}
			p.users[r] = m
		}
		m[k] = struct{}{}
	}
}

func (p *Planner) forgetDeps(k ProxyKey) {
	for _, r := range p.deps[k] {
		if m := p.users[r]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(p.users, r)
			}
		}
	}
	delete(p.deps, k)
}
