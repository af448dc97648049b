package compiler

import (
	"encoding/json"
	"sort"

	"github.com/meshc/meshc/schema"
)

// meshIndex is the bundle's view of one mesh: the Mesh resource and its
// policies, each kind sorted by the merge order of DESIGN.md §3
// (targetRef specificity, then name).
type meshIndex struct {
	name     string
	spec     *schema.MeshSpec // nil: the mesh is not in the bundle
	hash     string           // content hash of the Mesh resource
	policies map[string][]*policy
}

// policy is one policy resource with its content hash.
type policy struct {
	name string
	kind string
	spec *schema.PolicySpec
	hash string
}

func (m *meshIndex) mtls() bool { return m != nil && m.spec != nil && m.spec.MTLS.Enabled() }

func (m *meshIndex) localityAware() bool {
	return m != nil && m.spec != nil && m.spec.Routing.LocalityAwareLoadBalancing
}

// indexBundle splits a bundle into per-mesh indexes.
func indexBundle(b *Bundle) map[string]*meshIndex {
	out := map[string]*meshIndex{}
	get := func(name string) *meshIndex {
		mi := out[name]
		if mi == nil {
			mi = &meshIndex{name: name, policies: map[string][]*policy{}}
			out[name] = mi
		}
		return mi
	}
	if b == nil {
		return out
	}
	for i := range b.Resources {
		r := &b.Resources[i]
		switch {
		case r.Type == schema.TypeMesh:
			mi := get(r.Name)
			mi.spec = r.MeshSpec()
			mi.hash = hashJSON(r)
		case schema.IsPolicy(r.Type) && r.PolicySpec() != nil:
			mi := get(r.Mesh)
			mi.policies[r.Type] = append(mi.policies[r.Type], &policy{
				name: r.Name, kind: r.Type, spec: r.PolicySpec(), hash: hashJSON(r),
			})
		}
	}
	for _, mi := range out {
		for _, ps := range mi.policies {
			sort.SliceStable(ps, func(i, j int) bool {
				si, sj := ps[i].spec.TargetRef.Specificity(), ps[j].spec.TargetRef.Specificity()
				if si != sj {
					return si < sj
				}
				return ps[i].name < ps[j].name
			})
		}
	}
	return out
}

// selectsInbound reports whether a top-level targetRef selects a proxy inbound
// with the given tags (kuma.io/service among them).
func selectsInbound(t schema.TargetRef, tags map[string]string) bool {
	switch t.Kind {
	case schema.KindMesh, "":
		return true
	case schema.KindMeshSubset:
		return tagsContain(tags, t.Tags)
	case schema.KindMeshService:
		return tags[schema.TagService] == t.Name
	case schema.KindMeshServiceSubset:
		return tags[schema.TagService] == t.Name && tagsContain(tags, t.Tags)
	}
	return false
}

// selectsProxy reports whether a top-level targetRef selects a proxy: any of
// its inbounds matches (a proxy without inbounds is selected only by Mesh,
// or by a MeshSubset without tags).
func selectsProxy(t schema.TargetRef, inbounds []schema.Inbound) bool {
	if t.Kind == schema.KindMesh || t.Kind == "" || (t.Kind == schema.KindMeshSubset && len(t.Tags) == 0) {
		return true
	}
	for _, in := range inbounds {
		if selectsInbound(t, in.Tags) {
			return true
		}
	}
	return false
}

// tagsContain reports whether have ⊇ want.
func tagsContain(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// selectsDestination reports whether a `to` targetRef applies to traffic to svc.
func selectsDestination(t schema.TargetRef, svc string) bool {
	switch t.Kind {
	case schema.KindMesh, "":
		return true
	case schema.KindMeshService, schema.KindMeshServiceSubset:
		return t.Name == svc
	case schema.KindMeshSubset:
		s, ok := t.Tags[schema.TagService]
		return !ok || s == svc
	}
	return false
}

// mergeTo deep-merges, in merge order, the `to` defaults of the given
// policies (already sorted) that apply to traffic to svc. Inside one policy,
// items are taken by targetRef specificity, then as written. Nil when none applies.
func mergeTo(ps []*policy, svc string) map[string]any {
	var out map[string]any
	for _, p := range ps {
		for _, it := range itemsBySpecificity(p.spec.To) {
			if it.Default == nil || !selectsDestination(it.TargetRef, svc) {
				continue
			}
			if out == nil {
				out = map[string]any{}
			}
			deepMerge(out, it.Default)
		}
	}
	return out
}

// mergeFromAny deep-merges the `from` defaults whose source is the whole mesh
// (kind Mesh): inbound-side settings such as MeshTimeout on the inbound.
func mergeFromAny(ps []*policy) map[string]any {
	var out map[string]any
	for _, p := range ps {
		for _, it := range itemsBySpecificity(p.spec.From) {
			if it.Default == nil || (it.TargetRef.Kind != schema.KindMesh && it.TargetRef.Kind != "") {
				continue
			}
			if out == nil {
				out = map[string]any{}
			}
			deepMerge(out, it.Default)
		}
	}
	return out
}

func itemsBySpecificity(items []schema.PolicyItem) []schema.PolicyItem {
	if len(items) < 2 {
		return items
	}
	out := append([]schema.PolicyItem(nil), items...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].TargetRef.Specificity() < out[j].TargetRef.Specificity()
	})
	return out
}

// deepMerge merges src into dst: maps merge key by key, anything else
// (scalars, lists) is replaced by src's value. src is copied, never aliased.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// decodeConf decodes a merged default block into T; nil in, nil out.
func decodeConf[T any](m map[string]any) (*T, error) {
	if m == nil {
		return nil, nil
	}
	v, err := schema.DecodeConf[T](m)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// permissions resolves the MeshTrafficPermissions selecting one inbound.
func permissions(mi *meshIndex, tags map[string]string) *Permissions {
	perm := &Permissions{Enforced: mi.mtls()}
	if mi == nil {
		return perm
	}
	for _, p := range mi.policies[schema.TypeMeshTrafficPermission] {
		if !selectsInbound(p.spec.TargetRef, tags) {
			continue
		}
		for _, it := range itemsBySpecificity(p.spec.From) {
			action, _ := it.Default["action"].(string)
			if action == "" {
				continue
			}
			perm.Rules = append(perm.Rules, PermissionRule{Source: sourceOf(it.TargetRef), Action: action, Policy: p.name})
		}
	}
	perm.Rules = compactRules(perm.Rules)
	return perm
}

func sourceOf(t schema.TargetRef) Source {
	switch t.Kind {
	case schema.KindMeshService:
		return Source{Service: t.Name}
	case schema.KindMeshServiceSubset:
		return Source{Service: t.Name, Tags: t.Tags}
	case schema.KindMeshSubset:
		if len(t.Tags) == 0 {
			return Source{Any: true}
		}
		return Source{Tags: t.Tags}
	}
	return Source{Any: true}
}

// compactRules drops rules that a later rule fully shadows: a later rule with
// the same source, or a later rule matching any source.
func compactRules(rs []PermissionRule) []PermissionRule {
	var out []PermissionRule
	seen := map[string]bool{}
	for i := len(rs) - 1; i >= 0; i-- {
		k := hashJSON(rs[i].Source)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, rs[i])
		if rs[i].Source.Any {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// hashJSON is a short content hash of v's JSON.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unhashable"
	}
	return hashBytes(b)
}
