// Package schema is the front end of the meshc compiler: the Go types of every
// mesh resource (DESIGN.md §3), their closed CUE definitions (embedded), and the
// loader that turns .yaml/.yml/.json/.cue files into typed, validated,
// defaulted resources that remember where every field came from.
//
// Nothing in this package does network I/O; the loader reads from an fs.FS so
// that a directory, a Git tree or an in-memory map can all be sources.
//
// # Sources
//
//   - .yaml, .yml: a stream of documents, each one resource; empty documents
//     (a leading or trailing ---) are skipped.
//   - .json: one resource (an object) or several (an array of objects).
//   - .cue: the files of one directory that share a package clause form a
//     package, evaluated on its own. Its top-level field `resources` — a list,
//     or a struct of any labels — holds resources. A package may import
//     "meshc.dev/schema" (SchemaImportPath) for #Mesh, #MeshHTTPRoute, … and
//     the CUE standard library; nothing else. A syntax error in one file
//     skips its package.
//
// Every resource is unified with the closed definition of its type (see
// cue/*.cue and SchemaFiles), so unknown fields, wrong types and bad values
// are errors at their file:line:col, and defaults are filled in.
//
// # Walking a directory
//
// Entries are visited in lexical order; names starting with "." (.git,
// .github) and cue.mod are skipped; files with other extensions (README.md)
// are ignored. Resources come back YAML/JSON files first, in walk order, then
// CUE packages by directory. Files are validated in parallel; the result does
// not depend on it.
//
// # Bad input
//
//   - A file over MaxFileSize (4 MiB) is an error, and is not read.
//   - A file that is not UTF-8 is an error at its first bad byte.
//   - An empty (or whitespace-only) file is an error — usually a truncation
//     or a failed merge that would drop resources silently. A file with only
//     comments, an empty JSON array, or a CUE package without `resources`
//     gets a warning.
//   - A symlink to a file is followed when its target stays inside the root
//     that was walked; one that leaves it, or is broken, is an error. A
//     symlink to a directory is not followed (a warning says so).
//   - Errors in one file never stop the others. A resource in error is left
//     out; the other documents of its file still load.
//
// # Field paths
//
// Source.Fields maps field paths such as
// spec.to[0].rules[0].default.backendRefs[1].weight or
// spec.targetRef.tags["kuma.io/service"] to where the file wrote them. For
// CUE, a value computed from a template is placed where its value was
// written (e.g. the element of a list of team names).
package schema

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Resource kinds (the `type` field).
const (
	TypeMesh                      = "Mesh"
	TypeZone                      = "Zone"
	TypeMeshTrafficPermission     = "MeshTrafficPermission"
	TypeMeshHTTPRoute             = "MeshHTTPRoute"
	TypeMeshTCPRoute              = "MeshTCPRoute"
	TypeMeshTimeout               = "MeshTimeout"
	TypeMeshRetry                 = "MeshRetry"
	TypeMeshCircuitBreaker        = "MeshCircuitBreaker"
	TypeMeshHealthCheck           = "MeshHealthCheck"
	TypeMeshLoadBalancingStrategy = "MeshLoadBalancingStrategy"
	TypeVirtualOutbound           = "VirtualOutbound"
	TypeExternalService           = "ExternalService"
	TypeDataplane                 = "Dataplane"
	TypeZoneIngress               = "ZoneIngress"
	TypeZoneEgress                = "ZoneEgress"
)

// PolicyTypes are the targetRef-style policy kinds, in a fixed order.
var PolicyTypes = []string{
	TypeMeshTrafficPermission, TypeMeshHTTPRoute, TypeMeshTCPRoute, TypeMeshTimeout,
	TypeMeshRetry, TypeMeshCircuitBreaker, TypeMeshHealthCheck, TypeMeshLoadBalancingStrategy,
}

// GitTypes may be defined in a Git repo (global); ZoneTypes are registered live at a zone.
var (
	GitTypes  = append([]string{TypeMesh, TypeZone, TypeVirtualOutbound, TypeExternalService}, PolicyTypes...)
	ZoneTypes = []string{TypeDataplane, TypeZoneIngress, TypeZoneEgress}
)

// IsPolicy reports whether t is a targetRef-style policy type.
func IsPolicy(t string) bool {
	for _, p := range PolicyTypes {
		if p == t {
			return true
		}
	}
	return false
}

// IsMeshScoped reports whether resources of type t carry a `mesh` field.
func IsMeshScoped(t string) bool {
	switch t {
	case TypeMesh, TypeZone, TypeZoneIngress, TypeZoneEgress:
		return false
	}
	return true
}

// Key identifies a resource: type, mesh (empty when not mesh-scoped) and name.
type Key struct {
	Type string `json:"type"`
	Mesh string `json:"mesh,omitempty"`
	Name string `json:"name"`
}

func (k Key) String() string {
	if k.Mesh == "" {
		return k.Type + "/" + k.Name
	}
	return k.Type + "/" + k.Mesh + "/" + k.Name
}

// Less orders keys by type, mesh, name.
func (k Key) Less(o Key) bool {
	if k.Type != o.Type {
		return k.Type < o.Type
	}
	if k.Mesh != o.Mesh {
		return k.Mesh < o.Mesh
	}
	return k.Name < o.Name
}

// Resource is one mesh resource: its identity, its typed body and where it was
// read from. Spec holds a pointer to the kind's body type:
//
//	Mesh → *MeshSpec, Zone → *ZoneSpec, policies → *PolicySpec,
//	VirtualOutbound → *VirtualOutboundSpec, ExternalService → *ExternalServiceSpec,
//	Dataplane → *DataplaneSpec, ZoneIngress → *ZoneIngressSpec, ZoneEgress → *ZoneEgressSpec.
//
// In Kuma's universal format the body's fields sit beside type/name/mesh
// (policies keep theirs under `spec`); MarshalJSON/UnmarshalJSON use that form.
type Resource struct {
	Type   string
	Name   string
	Mesh   string
	Spec   any
	Source Source
}

// Key returns the resource's identity.
func (r *Resource) Key() Key { return Key{Type: r.Type, Mesh: r.Mesh, Name: r.Name} }

// NewSpec returns a new, empty body for resources of type t, or nil if t is unknown.
func NewSpec(t string) any {
	switch t {
	case TypeMesh:
		return &MeshSpec{}
	case TypeZone:
		return &ZoneSpec{}
	case TypeVirtualOutbound:
		return &VirtualOutboundSpec{}
	case TypeExternalService:
		return &ExternalServiceSpec{}
	case TypeDataplane:
		return &DataplaneSpec{}
	case TypeZoneIngress:
		return &ZoneIngressSpec{}
	case TypeZoneEgress:
		return &ZoneEgressSpec{}
	}
	if IsPolicy(t) {
		return &PolicyBody{}
	}
	return nil
}

// MarshalJSON writes the universal form: type, name, mesh and the body's fields
// in one object, keys sorted (so equal resources marshal to equal bytes).
func (r Resource) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if r.Spec != nil {
		b, err := json.Marshal(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", r.Key(), err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("marshal %s: %w", r.Key(), err)
		}
	}
	m["type"] = r.Type
	m["name"] = r.Name
	if r.Mesh != "" {
		m["mesh"] = r.Mesh
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the universal form. It does not validate: use the loader
// for input from users.
func (r *Resource) UnmarshalJSON(b []byte) error {
	var meta struct {
		Type string `json:"type"`
		Name string `json:"name"`
		Mesh string `json:"mesh"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return err
	}
	spec := NewSpec(meta.Type)
	if spec == nil {
		return fmt.Errorf("unknown resource type %q", meta.Type)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	delete(m, "type")
	delete(m, "name")
	delete(m, "mesh")
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, spec); err != nil {
		return fmt.Errorf("%s %q: %w", meta.Type, meta.Name, err)
	}
	r.Type, r.Name, r.Mesh, r.Spec = meta.Type, meta.Name, meta.Mesh, spec
	return nil
}

// Typed accessors; each returns nil when the resource is of another kind.

func (r *Resource) MeshSpec() *MeshSpec { s, _ := r.Spec.(*MeshSpec); return s }
func (r *Resource) ZoneSpec() *ZoneSpec { s, _ := r.Spec.(*ZoneSpec); return s }
func (r *Resource) VirtualOutboundSpec() *VirtualOutboundSpec {
	s, _ := r.Spec.(*VirtualOutboundSpec)
	return s
}
func (r *Resource) ExternalServiceSpec() *ExternalServiceSpec {
	s, _ := r.Spec.(*ExternalServiceSpec)
	return s
}
func (r *Resource) DataplaneSpec() *DataplaneSpec     { s, _ := r.Spec.(*DataplaneSpec); return s }
func (r *Resource) ZoneIngressSpec() *ZoneIngressSpec { s, _ := r.Spec.(*ZoneIngressSpec); return s }
func (r *Resource) ZoneEgressSpec() *ZoneEgressSpec   { s, _ := r.Spec.(*ZoneEgressSpec); return s }

// PolicySpec returns the `spec` of a policy, or nil.
func (r *Resource) PolicySpec() *PolicySpec {
	if b, ok := r.Spec.(*PolicyBody); ok {
		return &b.Spec
	}
	return nil
}

// SortResources orders resources by Key.
func SortResources(rs []Resource) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Key().Less(rs[j].Key()) })
}
