package schema

import (
	"encoding/json"
	"strconv"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// Exporting a validated value from CUE (Value.MarshalJSON) costs more than
// validating it. A YAML or JSON document is plain data, so once CUE has
// accepted it the loader decodes the document's own syntax tree and fills
// in the schema's defaults in Go (applyDefaults mirrors the `*default`
// values of the CUE definitions; TestGoDecodeMatchesCUE holds them equal).
// Anything the fast path does not understand falls back to CUE's export.

// astToGo converts a YAML/JSON-derived CUE expression to Go data. ok is
// false for anything but plain literals, structs and lists.
func astToGo(x ast.Expr) (v any, ok bool) {
	switch n := x.(type) {
	case *ast.StructLit:
		m := make(map[string]any, len(n.Elts))
		for _, d := range n.Elts {
			f, isField := d.(*ast.Field)
			if !isField {
				return nil, false
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				return nil, false
			}
			fv, ok := astToGo(f.Value)
			if !ok {
				return nil, false
			}
			m[name] = fv
		}
		return m, true
	case *ast.ListLit:
		l := make([]any, 0, len(n.Elts))
		for _, e := range n.Elts {
			ev, ok := astToGo(e)
			if !ok {
				return nil, false
			}
			l = append(l, ev)
		}
		return l, true
	case *ast.BasicLit:
		switch n.Kind {
		case token.STRING:
			s, err := literal.Unquote(n.Value)
			return s, err == nil
		case token.INT:
			i, err := strconv.ParseInt(n.Value, 10, 64)
			return i, err == nil
		case token.FLOAT:
			f, err := strconv.ParseFloat(n.Value, 64)
			return f, err == nil
		case token.TRUE:
			return true, true
		case token.FALSE:
			return false, true
		case token.NULL:
			return nil, true
		}
	case *ast.UnaryExpr:
		if n.Op == token.SUB {
			switch v, ok := astToGo(n.X); x := v.(type) {
			case int64:
				return -x, ok
			case float64:
				return -x, ok
			}
		}
	}
	return nil, false
}

// decodeGo builds a Resource from validated plain data plus defaults.
func decodeGo(typ string, m map[string]any) (Resource, error) {
	applyDefaults(typ, m)
	r := Resource{Type: typ, Spec: NewSpec(typ)}
	r.Name, _ = m["name"].(string)
	r.Mesh, _ = m["mesh"].(string)
	body := make(map[string]any, len(m))
	for k, v := range m {
		if k != "type" && k != "name" && k != "mesh" {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Resource{}, err
	}
	if err := json.Unmarshal(b, r.Spec); err != nil {
		return Resource{}, err
	}
	return r, nil
}

// applyDefaults fills in what the CUE definitions default.
func applyDefaults(typ string, m map[string]any) {
	switch typ {
	case TypeMesh:
		r := child(m, "routing")
		setDefault(r, "localityAwareLoadBalancing", false)
		setDefault(r, "zoneEgress", false)
		setDefault(child(child(m, "networking"), "outbound"), "passthrough", true)
		if mtls, ok := m["mtls"].(map[string]any); ok {
			each(mtls, "backends", func(b map[string]any) {
				setDefault(child(child(b, "conf"), "caCert"), "expiration", "10y")
			})
		}
	case TypeZone:
		setDefault(m, "enabled", true)
	case TypeExternalService:
		if n, ok := m["networking"].(map[string]any); ok {
			if tls, ok := n["tls"].(map[string]any); ok {
				setDefault(tls, "enabled", false)
				setDefault(tls, "allowRenegotiation", false)
			}
		}
	}
	if !IsPolicy(typ) {
		return
	}
	spec := child(m, "spec")
	setDefault(child(spec, "targetRef"), "kind", KindMesh)
	switch typ {
	case TypeMeshHTTPRoute:
		each(spec, "to", func(to map[string]any) {
			each(to, "rules", func(rule map[string]any) {
				each(rule, "matches", func(mt map[string]any) {
					each(mt, "headers", defaultValueMatch)
					each(mt, "queryParams", defaultValueMatch)
				})
				if d, ok := rule["default"].(map[string]any); ok {
					each(d, "backendRefs", defaultBackendRef)
					each(d, "filters", func(f map[string]any) {
						if rm, ok := f["requestMirror"].(map[string]any); ok {
							if br, ok := rm["backendRef"].(map[string]any); ok {
								defaultBackendRef(br)
							}
						}
					})
				}
			})
		})
	case TypeMeshTCPRoute:
		each(spec, "to", func(to map[string]any) {
			each(to, "rules", func(rule map[string]any) {
				if d, ok := rule["default"].(map[string]any); ok {
					each(d, "backendRefs", defaultBackendRef)
				}
			})
		})
	}
}

func defaultValueMatch(m map[string]any) { setDefault(m, "type", "Exact") }

func defaultBackendRef(m map[string]any) {
	setDefault(m, "kind", KindMeshService)
	setDefault(m, "weight", int64(1))
}

func setDefault(m map[string]any, k string, v any) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// child returns m[k] as a map, creating it when absent.
func child(m map[string]any, k string) map[string]any {
	if c, ok := m[k].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[k] = c
	return c
}

func each(m map[string]any, k string, f func(map[string]any)) {
	l, _ := m[k].([]any)
	for _, e := range l {
		if em, ok := e.(map[string]any); ok {
			f(em)
		}
	}
}
