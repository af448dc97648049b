package schema

import (
	"fmt"
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

// exportCUE converts a valid, concrete CUE value to Go data in the same walk
// that records where the user wrote each field: cheaper than MarshalJSON
// plus a separate walk, each of which sorts every struct's fields. ok is
// false for anything but strings, numbers, bools, null, structs and lists.
func exportCUE(v cue.Value, prefix string, m map[string]Pos, depth int) (any, bool) {
	if depth > 64 {
		return nil, false
	}
	v, _ = v.Default()
	switch v.Kind() {
	case cue.StructKind:
		it, err := v.Fields()
		if err != nil {
			return nil, false
		}
		out := map[string]any{}
		for it.Next() {
			sel := it.Selector()
			if !sel.IsString() {
				return nil, false
			}
			name := sel.Unquoted()
			p := joinKey(prefix, name)
			fv := it.Value()
			if pos := fieldPos(fv); pos.IsValid() {
				m[p] = toPos(pos)
			}
			x, ok := exportCUE(fv, p, m, depth+1)
			if !ok {
				return nil, false
			}
			out[name] = x
		}
		return out, true
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return nil, false
		}
		out := []any{}
		for i := 0; it.Next(); i++ {
			p := prefix + "[" + strconv.Itoa(i) + "]"
			ev := it.Value()
			if pos := fieldPos(ev); pos.IsValid() {
				m[p] = toPos(pos)
			}
			x, ok := exportCUE(ev, p, m, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, x)
		}
		return out, true
	case cue.StringKind:
		s, err := v.String()
		return s, err == nil
	case cue.IntKind:
		i, err := v.Int64()
		return i, err == nil
	case cue.FloatKind:
		f, err := v.Float64()
		return f, err == nil
	case cue.BoolKind:
		b, err := v.Bool()
		return b, err == nil
	case cue.NullKind:
		return nil, true
	}
	return nil, false
}

// duplicateKeys reports keys that a YAML/JSON mapping repeats: YAML forbids
// them, and CUE would silently unify the two values.
func duplicateKeys(x ast.Expr, prefix string, out *Errors) {
	switch n := x.(type) {
	case *ast.StructLit:
		seen := map[string]token.Pos{}
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
			pos := f.Pos()
			if !pos.IsValid() {
				pos = f.Value.Pos()
			}
			if first, dup := seen[name]; dup {
				msg := fmt.Sprintf("%s: duplicate key %q", p, name)
				if first.IsValid() {
					msg += fmt.Sprintf(" (first at line %d)", first.Line())
				}
				*out = append(*out, Error{Pos: toPos(pos), Path: p, Msg: msg, Severity: SeverityError})
				continue
			}
			seen[name] = pos
			duplicateKeys(f.Value, p, out)
		}
	case *ast.ListLit:
		for i, e := range n.Elts {
			duplicateKeys(e, prefix+"["+strconv.Itoa(i)+"]", out)
		}
	}
}
