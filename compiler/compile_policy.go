package compiler

import (
	"fmt"
	"strings"

	"github.com/meshc/meshc/schema"
)

var (
	allKinds      = []string{schema.KindMesh, schema.KindMeshSubset, schema.KindMeshService, schema.KindMeshServiceSubset}
	meshOrService = []string{schema.KindMesh, schema.KindMeshService}
	meshOnly      = []string{schema.KindMesh}
	serviceOnly   = []string{schema.KindMeshService}
)

// policyRule says which targetRef kinds a policy type accepts in each
// position (Kuma 2.x); a nil list means the position is not allowed.
type policyRule struct {
	top, to, from []string
	route         bool // to[] items carry rules, not default
}

var policyRules = map[string]policyRule{
	schema.TypeMeshTrafficPermission:     {top: allKinds, from: allKinds},
	schema.TypeMeshHTTPRoute:             {top: allKinds, to: serviceOnly, route: true},
	schema.TypeMeshTCPRoute:              {top: allKinds, to: serviceOnly, route: true},
	schema.TypeMeshTimeout:               {top: allKinds, to: meshOrService, from: meshOnly},
	schema.TypeMeshRetry:                 {top: allKinds, to: meshOrService},
	schema.TypeMeshCircuitBreaker:        {top: allKinds, to: meshOrService, from: meshOnly},
	schema.TypeMeshHealthCheck:           {top: allKinds, to: meshOrService},
	schema.TypeMeshLoadBalancingStrategy: {top: allKinds, to: meshOrService},
}

// checkPolicy checks a targetRef-style policy: kinds per position, the shape
// of each targetRef, and the body of each to/from item.
func (c *checker) checkPolicy(r *schema.Resource) {
	spec := r.PolicySpec()
	rule, known := policyRules[r.Type]
	if spec == nil || !known {
		c.errorf(r, "spec", "%s has no policy spec", r.Type)
		return
	}
	top := spec.TargetRef
	if top.Kind == "" {
		top.Kind = schema.KindMesh // Kuma 2.x: an omitted top-level targetRef selects the whole mesh
	}
	c.checkTargetRef(r, "spec.targetRef", top, rule.top, "spec.targetRef")

	switch {
	case len(spec.To) == 0 && len(spec.From) == 0:
		c.errorf(r, "spec", "%s %q has neither to nor from: it would apply nothing; add %s", r.Type, r.Name, needs(rule))
	}
	for i, it := range spec.To {
		p := fmt.Sprintf("spec.to[%d]", i)
		if rule.to == nil {
			c.errorf(r, p, "%s does not take to: %s", r.Type, needs(rule))
			continue
		}
		c.checkTargetRef(r, p+".targetRef", it.TargetRef, rule.to, "to[].targetRef")
		c.checkItemBody(r, p, it, rule)
	}
	for i, it := range spec.From {
		p := fmt.Sprintf("spec.from[%d]", i)
		if rule.from == nil {
			c.errorf(r, p, "%s does not take from: %s", r.Type, needs(rule))
			continue
		}
		c.checkTargetRef(r, p+".targetRef", it.TargetRef, rule.from, "from[].targetRef")
		c.checkItemBody(r, p, it, rule)
	}
}

// needs says which of to/from a policy type takes.
func needs(rule policyRule) string {
	switch {
	case rule.to != nil && rule.from != nil:
		return "to (outgoing traffic) and/or from (incoming traffic)"
	case rule.to != nil:
		return "to (it configures outgoing traffic)"
	default:
		return "from (it configures incoming traffic)"
	}
}

// checkTargetRef checks that ref's kind is allowed in this position and that
// it carries what the kind needs (a name, tags) and nothing it ignores.
func (c *checker) checkTargetRef(r *schema.Resource, path string, ref schema.TargetRef, allowed []string, position string) {
	if ref.Kind == "" {
		c.errorf(r, path, "targetRef has no kind: set kind to one of %s", strings.Join(allowed, ", "))
		return
	}
	if !contains(allKinds, ref.Kind) {
		c.errorf(r, path+".kind", "unknown targetRef kind %q: use one of %s", ref.Kind, strings.Join(allowed, ", "))
		return
	}
	if !contains(allowed, ref.Kind) {
		c.errorf(r, path+".kind", "%s does not allow kind %s in %s: use %s", r.Type, ref.Kind, position, orList(allowed))
		return
	}
	switch ref.Kind {
	case schema.KindMesh:
		if ref.Name != "" {
			c.errorf(r, path+".name", "a targetRef of kind Mesh takes no name (it selects the whole mesh); remove name or use kind MeshService")
		}
		if len(ref.Tags) > 0 {
			c.errorf(r, path+".tags", "a targetRef of kind Mesh takes no tags; use kind MeshSubset to select by tags")
		}
	case schema.KindMeshSubset:
		if ref.Name != "" {
			c.errorf(r, path+".name", "a targetRef of kind MeshSubset takes no name; use kind MeshServiceSubset to select tags of one service")
		}
		if len(ref.Tags) == 0 {
			c.errorf(r, path, "a targetRef of kind MeshSubset needs tags (e.g. tags: {version: v2})")
		}
	case schema.KindMeshService:
		if ref.Name == "" {
			c.errorf(r, path, "a targetRef of kind MeshService needs name: the service (its kuma.io/service tag)")
		}
		if len(ref.Tags) > 0 {
			c.errorf(r, path+".tags", "a targetRef of kind MeshService takes no tags; use kind MeshServiceSubset to select a subset of the service")
		}
	case schema.KindMeshServiceSubset:
		if ref.Name == "" {
			c.errorf(r, path, "a targetRef of kind MeshServiceSubset needs name: the service (its kuma.io/service tag)")
		}
		if len(ref.Tags) == 0 {
			c.errorf(r, path, "a targetRef of kind MeshServiceSubset needs tags (e.g. tags: {version: v2})")
		}
	}
}

// checkItemBody checks one to/from item: routes carry rules, others a default.
func (c *checker) checkItemBody(r *schema.Resource, p string, it schema.PolicyItem, rule policyRule) {
	if rule.route {
		if len(it.Default) > 0 {
			c.errorf(r, p+".default", "%s takes rules, not default: move the settings into rules[].default", r.Type)
		}
		if len(it.Rules) == 0 {
			c.errorf(r, p, "%s has no rules: add at least one rule with backendRefs", r.Type)
		}
		for j, rr := range it.Rules {
			c.checkRouteRule(r, fmt.Sprintf("%s.rules[%d]", p, j), rr)
		}
		return
	}
	if len(it.Rules) > 0 {
		c.errorf(r, p+".rules", "%s takes default, not rules", r.Type)
	}
	if len(it.Default) == 0 {
		c.errorf(r, p, "%s has no default: it would change nothing; add the settings under default", r.Type)
		return
	}
	c.checkConf(r, p+".default", it.Default)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// orList writes "A", "A or B", "A, B or C".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
