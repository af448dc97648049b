package compiler

import (
	"sort"

	"github.com/meshc/meshc/schema"
)

// effectSet accumulates what changed resources touch.
type effectSet struct {
	meshes   map[string]bool
	meshWide map[string]bool
	services map[ServiceRef]bool
	routes   map[schema.Key]bool
	zones    map[string]bool
}

func newEffectSet() *effectSet {
	return &effectSet{meshes: map[string]bool{}, meshWide: map[string]bool{}, services: map[ServiceRef]bool{},
		routes: map[schema.Key]bool{}, zones: map[string]bool{}}
}

// add records what resource r (one side of a change) refers to.
func (e *effectSet) add(r *schema.Resource) {
	switch r.Type {
	case schema.TypeMesh:
		e.meshes[r.Name] = true
		e.meshWide[r.Name] = true
		return
	case schema.TypeZone:
		e.zones[r.Name] = true
		return
	}
	if r.Mesh != "" {
		e.meshes[r.Mesh] = true
	}
	if r.Type == schema.TypeMeshHTTPRoute || r.Type == schema.TypeMeshTCPRoute {
		e.routes[r.Key()] = true
	}
	switch {
	case schema.IsPolicy(r.Type):
		if p := r.PolicySpec(); p != nil {
			e.target(r.Mesh, p.TargetRef)
			for _, items := range [][]schema.PolicyItem{p.To, p.From} {
				for _, it := range items {
					e.target(r.Mesh, it.TargetRef)
					for _, rule := range it.Rules {
						for _, br := range rule.Default.BackendRefs {
							e.service(r.Mesh, br.Name)
						}
					}
				}
			}
		}
	case r.Type == schema.TypeExternalService:
		if s := r.ExternalServiceSpec(); s != nil {
			e.service(r.Mesh, s.Tags[schema.TagService])
		}
	case r.Type == schema.TypeVirtualOutbound:
		if s := r.VirtualOutboundSpec(); s != nil {
			for _, sel := range s.Selectors {
				if svc := sel.Match[schema.TagService]; svc != "" && svc != "*" {
					e.service(r.Mesh, svc)
				} else {
					e.meshWide[r.Mesh] = true
				}
			}
		}
	}
}

// target records a targetRef: a service, or the whole mesh for Mesh/MeshSubset.
func (e *effectSet) target(mesh string, t schema.TargetRef) {
	switch t.Kind {
	case schema.KindMeshService, schema.KindMeshServiceSubset:
		e.service(mesh, t.Name)
	case schema.KindMesh, schema.KindMeshSubset:
		e.meshWide[mesh] = true
	}
}

func (e *effectSet) service(mesh, name string) {
	if name != "" {
		e.services[ServiceRef{Mesh: mesh, Name: name}] = true
	}
}

func (e *effectSet) effects() Effects {
	out := Effects{
		Meshes: sortedSet(e.meshes), MeshWide: sortedSet(e.meshWide), Zones: sortedSet(e.zones),
		Services: []ServiceRef{}, Routes: []schema.Key{},
	}
	for s := range e.services {
		out.Services = append(out.Services, s)
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].String() < out.Services[j].String() })
	for k := range e.routes {
		out.Routes = append(out.Routes, k)
	}
	sort.Slice(out.Routes, func(i, j int) bool { return out.Routes[i].Less(out.Routes[j]) })
	return out
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
