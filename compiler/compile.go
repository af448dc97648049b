package compiler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshc/meshc/schema"
)

// Options tune Compile.
type Options struct {
	// Commit is the Git commit the resources came from, recorded in the Bundle.
	Commit string
	// Incomplete says some input failed to load (the loader reported errors),
	// so checks that need the whole repo — a mesh that no Mesh defines, a mesh
	// with mTLS and no permissions — are skipped rather than reported as
	// consequences of the load errors.
	Incomplete bool
}

// Compile checks what the schema cannot express (duplicates, references
// between resources, targetRef kinds per policy position, templates,
// addresses) and returns the normalized, sorted Bundle with its content-hash
// version. When the returned Errors has errors (HasErrors), the Bundle is nil;
// warnings may accompany a Bundle. Every diagnostic is placed at the field it
// is about, and diagnostics are sorted by position.
//
// Compile is pure: it neither reads files nor changes rs.
func Compile(rs []schema.Resource, opts Options) (*Bundle, schema.Errors) {
	c := &checker{}
	c.checkKinds(rs)
	global := c.globalResources(rs)
	c.checkDuplicates(global)
	meshes := c.meshes(global)
	for i := range global {
		r := global[i]
		if schema.IsMeshScoped(r.Type) {
			c.checkMeshRef(r, meshes, opts.Incomplete)
		}
		switch {
		case r.Type == schema.TypeMesh:
			c.checkMesh(r)
		case r.Type == schema.TypeVirtualOutbound:
			c.checkVirtualOutbound(r)
		case r.Type == schema.TypeExternalService:
			c.checkExternalService(r)
		case schema.IsPolicy(r.Type):
			c.checkPolicy(r)
		}
	}
	if !opts.Incomplete {
		c.checkSecureDefault(global)
	}
	c.checkCrossZoneMTLS(global, meshes)
	c.errs.Sort()
	if c.errs.HasErrors() {
		return nil, c.errs
	}

	out := make([]schema.Resource, 0, len(global))
	for _, r := range global {
		n, err := normalize(*r)
		if err != nil {
			// Only a resource the loader did not build could get here (a
			// Spec of the wrong Go type); say which one.
			c.errs = append(c.errs, c.diag(r, "", schema.SeverityError, "cannot normalize: %v", err))
			continue
		}
		out = append(out, n)
	}
	if c.errs.HasErrors() {
		c.errs.Sort()
		return nil, c.errs
	}
	schema.SortResources(out)
	version, err := contentVersion(out)
	if err != nil {
		return nil, append(c.errs, schema.Error{Msg: fmt.Sprintf("compute bundle version: %v", err), Severity: schema.SeverityError})
	}
	var warnings schema.Errors
	if len(c.errs) > 0 {
		warnings = c.errs
	}
	return &Bundle{Version: version, Commit: opts.Commit, Resources: out}, warnings
}

// checker collects diagnostics while Compile walks the resources.
type checker struct {
	errs schema.Errors
}

// diag makes a diagnostic at the field path of r. Like the loader's, its
// message starts with the path ("spec.to[0].targetRef.kind: …") so the
// field is named even where only the line is shown.
func (c *checker) diag(r *schema.Resource, path string, sev schema.Severity, format string, args ...any) schema.Error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return schema.Error{
		Pos:      r.Source.At(path),
		Path:     path,
		Resource: r.Key().String(),
		Msg:      msg,
		Severity: sev,
	}
}

// errorf reports an error at the field path of r.
func (c *checker) errorf(r *schema.Resource, path, format string, args ...any) {
	c.errs = append(c.errs, c.diag(r, path, schema.SeverityError, format, args...))
}

// warnf reports a warning at the field path of r.
func (c *checker) warnf(r *schema.Resource, path, format string, args ...any) {
	c.errs = append(c.errs, c.diag(r, path, schema.SeverityWarning, format, args...))
}

// checkKinds rejects types that do not belong in a Git repo.
func (c *checker) checkKinds(rs []schema.Resource) {
	for i := range rs {
		r := &rs[i]
		switch r.Type {
		case schema.TypeDataplane:
			c.errorf(r, "type", "a Dataplane cannot be defined in Git: dataplanes register at their zone (`meshc dp run`, or PUT /meshes/%s/dataplanes/%s on the zone's API); remove this file from the repo", meshOr(r.Mesh), r.Name)
		case schema.TypeZoneIngress:
			c.errorf(r, "type", "a ZoneIngress cannot be defined in Git: each zone registers its ingress (`meshc dp run --type ingress`, or PUT /zone-ingresses/%s on the zone's API); remove this file from the repo", r.Name)
		case schema.TypeZoneEgress:
			c.errorf(r, "type", "a ZoneEgress cannot be defined in Git: each zone registers its egress at the zone; remove this file from the repo")
		default:
			if !isGitType(r.Type) {
				c.errorf(r, "type", "unknown resource type %q; known types: %s", r.Type, strings.Join(sortedCopy(schema.GitTypes), ", "))
			}
		}
	}
}

func meshOr(m string) string {
	if m == "" {
		return "MESH"
	}
	return m
}

func isGitType(t string) bool {
	for _, g := range schema.GitTypes {
		if g == t {
			return true
		}
	}
	return false
}

// globalResources returns pointers to the resources that may be in a bundle.
func (c *checker) globalResources(rs []schema.Resource) []*schema.Resource {
	out := make([]*schema.Resource, 0, len(rs))
	for i := range rs {
		if isGitType(rs[i].Type) {
			out = append(out, &rs[i])
		}
	}
	return out
}

// checkDuplicates reports every resource whose type+mesh+name is defined more
// than once, at each place, naming the others.
func (c *checker) checkDuplicates(rs []*schema.Resource) {
	byKey := map[schema.Key][]*schema.Resource{}
	for _, r := range rs {
		byKey[r.Key()] = append(byKey[r.Key()], r)
	}
	for k, group := range byKey {
		if len(group) < 2 {
			continue
		}
		for i, r := range group {
			var others []string
			for j, o := range group {
				if j != i {
					others = append(others, o.Source.At("name").String())
				}
			}
			where := ""
			if k.Mesh != "" {
				where = fmt.Sprintf(" in mesh %q", k.Mesh)
			}
			c.errorf(r, "name", "duplicate %s %q%s: also defined at %s; names must be unique per type and mesh", k.Type, k.Name, where, strings.Join(others, ", "))
		}
	}
}

// meshes indexes the Mesh resources by name.
func (c *checker) meshes(rs []*schema.Resource) map[string]*schema.Resource {
	m := map[string]*schema.Resource{}
	for _, r := range rs {
		if r.Type == schema.TypeMesh {
			if _, dup := m[r.Name]; !dup {
				m[r.Name] = r
			}
		}
	}
	return m
}

// checkMeshRef reports a mesh-scoped resource without a mesh, or in a mesh no
// Mesh defines.
func (c *checker) checkMeshRef(r *schema.Resource, meshes map[string]*schema.Resource, incomplete bool) {
	if r.Mesh == "" {
		c.errorf(r, "name", "%s %q has no mesh: add `mesh: <name>` naming one of the repo's meshes", r.Type, r.Name)
		return
	}
	if _, ok := meshes[r.Mesh]; ok || incomplete {
		return
	}
	names := make([]string, 0, len(meshes))
	for n := range meshes {
		names = append(names, n)
	}
	sort.Strings(names)
	hint := "no Mesh is defined in this repo; add one (type: Mesh, name: " + r.Mesh + ")"
	if len(names) > 0 {
		hint = "defined meshes: " + strings.Join(names, ", ")
		if s := schema.Closest(r.Mesh, names); s != "" {
			hint = fmt.Sprintf("did you mean %q? (%s)", s, hint)
		}
	}
	c.errorf(r, "mesh", "no Mesh named %q: %s", r.Mesh, hint)
}

// checkSecureDefault warns about a mesh with mTLS and no permission at all:
// every request between its services would be denied.
func (c *checker) checkSecureDefault(rs []*schema.Resource) {
	hasMTP := map[string]bool{}
	for _, r := range rs {
		if r.Type == schema.TypeMeshTrafficPermission {
			hasMTP[r.Mesh] = true
		}
	}
	for _, r := range rs {
		if ms := r.MeshSpec(); ms != nil && ms.MTLS.Enabled() && !hasMTP[r.Name] {
			c.warnf(r, "mtls.enabledBackend", "mesh %q has mTLS on and no MeshTrafficPermission: all traffic between its services is denied; add a MeshTrafficPermission that allows what should flow", r.Name)
		}
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
