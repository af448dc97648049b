package schema

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
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
			m[p] = toPos(f.Pos())
			astFields(f.Value, p, m)
		}
	case *ast.ListLit:
		for i, e := range n.Elts {
			p := prefix + "[" + strconv.Itoa(i) + "]"
			m[p] = toPos(e.Pos())
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
			if pos := fv.Pos(); pos.IsValid() && !isSchemaFile(pos.Filename()) {
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
			if pos := ev.Pos(); pos.IsValid() && !isSchemaFile(pos.Filename()) {
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
