package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// doc is one resource as read from a source, before validation: its CUE
// value, where it starts and the position of every field the user wrote.
type doc struct {
	pos    Pos
	value  cue.Value
	fields map[string]Pos // nil for CUE resources: see validate
	label  string         // "resources.foo" for CUE resources; may be empty
	// syntax is the document's own tree when it is plain data (YAML, JSON),
	// decoded without a CUE export once valid.
	syntax ast.Expr
	isCUE  bool // from a CUE package: fields are found by walking the value
}

// validate unifies d with the closed definition of its type, reports every
// problem at the user's position, and on success decodes the defaulted value
// into a Resource.
func (c *compiled) validate(d doc) (Resource, Errors) {
	src := Source{Pos: d.pos, Fields: d.fields}
	// A CUE resource's field positions are found by walking its value: on
	// the error paths here; a valid one gets them from exportCUE in the
	// walk that decodes it.
	placeFields := func() {
		if d.isCUE && src.Fields == nil {
			src.Fields = map[string]Pos{}
			valueFields(d.value, "", src.Fields, 0)
		}
	}
	t, def, errs := c.definition(d, &src, placeFields)
	if errs != nil {
		return Resource{}, errs
	}
	c.uses++
	u := def.Unify(d.value)
	if err := u.Validate(cue.Concrete(true)); err != nil {
		placeFields()
		var raws []rawError
		collectErrors(u, def, "", nil, &raws, 0)
		if len(raws) == 0 {
			errs = c.translate(err, src)
		} else {
			errs = c.report(raws, src, d.value, u)
		}
		for i := range errs {
			if errs[i].Pos.File == "" {
				errs[i].Pos = d.pos
			}
		}
		return Resource{}, errs
	}
	r, err := c.decode(d, t, u, &src)
	if err != nil {
		return Resource{}, Errors{errAt(src, "", "%s: %v", t, err)}
	}
	r.Source = src
	return r, nil
}

// definition finds the closed definition for the document's `type`.
func (c *compiled) definition(d doc, srcp *Source, placeFields func()) (string, cue.Value, Errors) {
	tv := d.value.LookupPath(cue.ParsePath("type"))
	if t, err := tv.String(); err != nil {
		placeFields()
	} else if _, ok := c.defs[t]; !ok {
		placeFields()
	}
	src := *srcp
	if !tv.Exists() {
		if err := d.value.Err(); err != nil {
			return "", cue.Value{}, c.translate(err, src)
		}
		return "", cue.Value{}, Errors{errAt(src, "", "missing field \"type\": every resource names its type, one of %s", strings.Join(AllTypes(), ", "))}
	}
	t, err := tv.String()
	if err != nil {
		return "", cue.Value{}, Errors{errAt(src, "type", "field \"type\" must be a string naming the resource type, one of %s", strings.Join(AllTypes(), ", "))}
	}
	def, ok := c.defs[t]
	if !ok {
		hint := ""
		if s := Closest(t, AllTypes()); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		return "", cue.Value{}, Errors{errAt(src, "type", "unknown type %q%s: want one of %s", t, hint, strings.Join(AllTypes(), ", "))}
	}
	return t, def, nil
}

// decode turns the valid, defaulted value u into a Resource: plain
// documents from their own syntax plus Go defaults, CUE resources in one
// walk that also records their field positions, anything else through
// CUE's JSON export.
func (c *compiled) decode(d doc, t string, u cue.Value, src *Source) (Resource, error) {
	if !c.exportOnly {
		if d.syntax != nil {
			if data, ok := astToGo(d.syntax); ok {
				if m, ok := data.(map[string]any); ok {
					return decodeGo(t, m)
				}
			}
		}
		if d.isCUE {
			fields := map[string]Pos{}
			if data, ok := exportCUE(u, "", fields, 0); ok {
				if m, ok := data.(map[string]any); ok {
					src.Fields = fields
					return decodeGo(t, m)
				}
			}
		}
	}
	b, err := u.MarshalJSON()
	if err != nil {
		return Resource{}, err
	}
	var r Resource
	err = json.Unmarshal(b, &r)
	return r, err
}

func errAt(src Source, path, format string, args ...any) Error {
	return Error{Pos: src.At(path), Path: path, Msg: fmt.Sprintf(format, args...), Severity: SeverityError}
}

// translate turns CUE errors into diagnostics at the user's positions with
// messages a user of Kuma can act on.
func (c *compiled) translate(err error, src Source) Errors {
	var out Errors
	seen := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		path := fieldPath(stripRoot(e.Path()))
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if path != "" {
			msg = path + ": " + msg
		}
		pos := userPos(e, src, path)
		key := pos.String() + "\x00" + msg
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, Error{Pos: pos, Path: path, Msg: msg, Severity: SeverityError})
	}
	if len(out) == 0 {
		out = append(out, errAt(src, "", "%v", err))
	}
	out.Sort()
	return out
}

// userPos picks the first position of e in the user's files; otherwise the
// position of the nearest field on its path that the user wrote.
func userPos(e cueerrors.Error, src Source, path string) Pos {
	for _, p := range cueerrors.Positions(e) {
		if p.IsValid() && !isSchemaFile(p.Filename()) {
			return toPos(p)
		}
	}
	return src.At(path)
}

func toPos(p token.Pos) Pos {
	return Pos{File: p.Filename(), Line: p.Line(), Col: p.Column()}
}

// fieldPath renders CUE selectors as a field path:
// spec.to[0].default.backendRefs[1].weight, tags["kuma.io/service"].
func fieldPath(sels []string) string {
	var b strings.Builder
	for _, s := range sels {
		if s == "" {
			continue
		}
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if s[0] == '"' {
			if u, err := strconv.Unquote(s); err == nil {
				s = u
			}
		}
		appendKey(&b, s)
	}
	return b.String()
}

func appendKey(b *strings.Builder, k string) {
	if isIdentKey(k) {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k)
		return
	}
	b.WriteString("[" + strconv.Quote(k) + "]")
}

func isIdentKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_' || r == '$' || r == '#' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// stripRoot drops the selectors that name the definition (#Mesh) or the
// place of a CUE resource (resources.foo) from an error path.
func stripRoot(sels []string) []string {
	for len(sels) > 0 && strings.HasPrefix(sels[0], "#") {
		sels = sels[1:]
	}
	return sels
}
