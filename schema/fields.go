package schema

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// astFields records the position of every field and list element of a
// decoded YAML/JSON document, keyed by field path.
func astFields(x ast.Expr, prefix string, m map[string]Pos) {
	switch n := x.(type) {
	case *ast.StructLit:
		for _, d := range n.Elts {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue
			}
			p := joinKey(prefix, name)
			if pos := f.Pos(); pos.IsValid() {
				m[p] = toPos(pos)
			} else if pos := f.Value.Pos(); pos.IsValid() {
				m[p] = toPos(pos)
			}
			astFields(f.Value, p, m)
		}
	case *ast.ListLit:
		for i, e := range n.Elts {
			p := prefix + "[" + strconv.Itoa(i) + "]"
			if pos := e.Pos(); pos.IsValid() {
				m[p] = toPos(pos)
			}
			astFields(e, p, m)
		}
	}
}

// valueFields records positions of every field of an evaluated CUE value
// that comes from the user's files (not from the embedded schema).
func valueFields(v cue.Value, prefix string, m map[string]Pos, depth int) {
	if depth > 64 {
		return
	}
	switch v.IncompleteKind() {
	case cue.StructKind:
		it, err := v.Fields(cue.Optional(false))
		if err != nil {
			return
		}
		for it.Next() {
			p := joinKey(prefix, it.Selector().Unquoted())
			fv := it.Value()
			if pos := fieldPos(fv); pos.IsValid() {
				m[p] = toPos(pos)
			}
			valueFields(fv, p, m, depth+1)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return
		}
		for i := 0; it.Next(); i++ {
			p := prefix + "[" + strconv.Itoa(i) + "]"
			ev := it.Value()
			if pos := fieldPos(ev); pos.IsValid() {
				m[p] = toPos(pos)
			}
			valueFields(ev, p, m, depth+1)
		}
	}
}

func joinKey(prefix, k string) string {
	var b strings.Builder
	b.WriteString(prefix)
	appendKey(&b, k)
	return b.String()
}

// fieldPos is where the user wrote a value: CUE's position of the value
// (for a value computed from a template, where its concrete value was
// written), unless that lies in the embedded schema (a default).
//
// Value.Expr would find the field's own conjunct but costs more than the
// whole validation of the resource, so it is not used.
func fieldPos(v cue.Value) token.Pos {
	if p := v.Pos(); p.IsValid() && !isSchemaFile(p.Filename()) {
		return p
	}
	return token.NoPos
}
