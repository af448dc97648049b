package compiler

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"

	"github.com/meshc/meshc/schema"
)

// checkRouteRule checks one rule of a MeshHTTPRoute or MeshTCPRoute: its
// matches and filters, and that its backendRefs can carry traffic.
func (c *checker) checkRouteRule(r *schema.Resource, p string, rr schema.RouteRule) {
	if r.Type == schema.TypeMeshTCPRoute {
		if len(rr.Matches) > 0 {
			c.errorf(r, p+".matches", "MeshTCPRoute rules take no matches (TCP has no paths or headers); use a MeshHTTPRoute to match requests")
		}
		if len(rr.Default.Filters) > 0 {
			c.errorf(r, p+".default.filters", "MeshTCPRoute rules take no filters; use a MeshHTTPRoute to modify requests")
		}
	} else {
		for i, m := range rr.Matches {
			c.checkHTTPMatch(r, fmt.Sprintf("%s.matches[%d]", p, i), m)
		}
		for i, f := range rr.Default.Filters {
			c.checkFilter(r, fmt.Sprintf("%s.default.filters[%d]", p, i), f)
		}
	}
	c.checkBackendRefs(r, p+".default.backendRefs", rr.Default.BackendRefs)
}

func (c *checker) checkHTTPMatch(r *schema.Resource, p string, m schema.HTTPMatch) {
	if m.Path != nil {
		switch m.Path.Type {
		case "Exact", "PathPrefix":
			if !strings.HasPrefix(m.Path.Value, "/") {
				c.errorf(r, p+".path.value", "path %q must start with \"/\"", m.Path.Value)
			}
		case "RegularExpression":
			c.checkRegexp(r, p+".path.value", m.Path.Value)
		}
	}
	for i, h := range m.Headers {
		c.checkValueMatch(r, fmt.Sprintf("%s.headers[%d]", p, i), "header", h)
	}
	for i, q := range m.QueryParams {
		c.checkValueMatch(r, fmt.Sprintf("%s.queryParams[%d]", p, i), "query parameter", q)
	}
}

func (c *checker) checkValueMatch(r *schema.Resource, p, what string, v schema.ValueMatch) {
	switch v.Type {
	case "RegularExpression":
		c.checkRegexp(r, p+".value", v.Value)
	case "Exact", "Prefix":
		if v.Value == "" && what == "header" && v.Type == "Prefix" {
			c.errorf(r, p+".value", "a Prefix %s match needs a value; use type Present to match any value", what)
		}
	case "Present", "Absent":
		if v.Value != "" {
			c.errorf(r, p+".value", "a %s %s match takes no value", v.Type, what)
		}
	}
}

// checkRegexp checks a regular expression as Envoy's RE2 would read it (Go's
// regexp package implements RE2 syntax).
func (c *checker) checkRegexp(r *schema.Resource, p, expr string) {
	if _, err := regexp.Compile(expr); err != nil {
		c.errorf(r, p, "invalid regular expression: %v", unwrapRegexpErr(err))
	}
}

func unwrapRegexpErr(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: %q", se.Code, se.Expr)
	}
	return err.Error()
}

// checkFilter checks that a filter carries the block its type names.
func (c *checker) checkFilter(r *schema.Resource, p string, f schema.HTTPFilter) {
	var present bool
	var field string
	switch f.Type {
	case "RequestHeaderModifier":
		present, field = f.RequestHeaderModifier != nil, "requestHeaderModifier"
	case "ResponseHeaderModifier":
		present, field = f.ResponseHeaderModifier != nil, "responseHeaderModifier"
	case "RequestRedirect":
		present, field = len(f.RequestRedirect) > 0, "requestRedirect"
	case "URLRewrite":
		present, field = len(f.URLRewrite) > 0, "urlRewrite"
	case "RequestMirror":
		present, field = len(f.RequestMirror) > 0, "requestMirror"
	default:
		return // the schema rejects unknown filter types
	}
	if !present {
		c.errorf(r, p+".type", "a filter of type %s needs its settings under %s", f.Type, field)
	}
}

// checkBackendRefs checks that a rule sends traffic somewhere: at least one
// backendRef, well-formed refs, and not every weight zero.
func (c *checker) checkBackendRefs(r *schema.Resource, p string, refs []schema.BackendRef) {
	if len(refs) == 0 {
		c.errorf(r, p, "rule has no backendRefs: matched requests would have nowhere to go; add at least one backendRef (kind: MeshService, name: <service>)")
		return
	}
	total := 0
	seen := map[string]int{}
	for i, b := range refs {
		bp := fmt.Sprintf("%s[%d]", p, i)
		total += b.Weight
		switch b.Kind {
		case schema.KindMeshService:
			if len(b.Tags) > 0 {
				c.errorf(r, bp+".tags", "a backendRef of kind MeshService takes no tags; use kind MeshServiceSubset to send to a subset (e.g. tags: {version: v2})")
			}
		case schema.KindMeshServiceSubset:
			if len(b.Tags) == 0 {
				c.errorf(r, bp, "a backendRef of kind MeshServiceSubset needs tags (e.g. {version: v2} or {kuma.io/zone: zone-b})")
			}
		default:
			c.errorf(r, bp+".kind", "backendRef kind %q is not allowed: use MeshService or MeshServiceSubset", b.Kind)
			continue
		}
		if b.Name == "" {
			c.errorf(r, bp, "backendRef needs name: the service to send traffic to")
			continue
		}
		id := backendID(b)
		if first, dup := seen[id]; dup {
			c.warnf(r, bp, "backendRef %s is listed twice (also %s[%d]); merge them into one with the summed weight", id, p, first)
		} else {
			seen[id] = i
		}
	}
	if total == 0 {
		c.errorf(r, p, "all backendRefs have weight 0: no request would be routed; give at least one a positive weight")
	}
}

// backendID names a backendRef by service and sorted tags.
func backendID(b schema.BackendRef) string {
	if len(b.Tags) == 0 {
		return b.Name
	}
	keys := make([]string, 0, len(b.Tags))
	for k := range b.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + b.Tags[k]
	}
	return b.Name + "{" + strings.Join(parts, ",") + "}"
}
