package schema

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// CUE's Validate stops descending at the first struct in error, so a file
// with several mistakes would show only some of them. collectErrors walks
// the unified value itself and reports every field in error, every unknown
// field and every missing required field, each at its own path.

type rawError struct {
	path string
	sels []cue.Selector
	err  cueerrors.Error
	msg  string // set for errors we make ourselves
}

func collectErrors(v, schema cue.Value, path string, sels []cue.Selector, out *[]rawError, depth int) bool {
	if depth > 64 {
		return false
	}
	if l, err := v.List(); err == nil {
		found := false
		for i := 0; l.Next(); i++ {
			p := path + "[" + strconv.Itoa(i) + "]"
			cs := append(sels[:len(sels):len(sels)], cue.Index(i))
			if visitLeaf(l.Value(), schema.LookupPath(cue.MakePath(cue.AnyIndex)), p, cs, out, depth) {
				found = true
			}
		}
		return found
	}
	// Fields also iterates the elements of a list in error (List does not).
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return false
	}
	found := false
	for it.Next() {
		sel := it.Selector()
		child := it.Value()
		var p string
		if sel.Type()&cue.IndexLabel != 0 {
			p = path + "[" + sel.String() + "]"
		} else {
			p = joinKey(path, sel.Unquoted())
		}
		cs := append(sels[:len(sels):len(sels)], plainSel(sel))
		ft := it.FieldType()
		if ft&cue.RequiredConstraint != 0 {
			*out = append(*out, rawError{path: p, sels: cs, msg: "missing required field " + quoteKey(sel.Unquoted())})
			found = true
			continue
		}
		if ft&cue.OptionalConstraint != 0 {
			continue
		}
		var childSchema cue.Value
		if schema.Exists() {
			if sel.Type()&cue.IndexLabel != 0 {
				childSchema = schema.LookupPath(cue.MakePath(cue.AnyIndex))
			} else if sel.IsString() {
				if schema.IncompleteKind() == cue.StructKind && !schema.Allows(cs[len(cs)-1]) {
					*out = append(*out, rawError{path: p, sels: cs, msg: "field not allowed"})
					found = true
					continue
				}
				childSchema = lookupField(schema, sel.Unquoted())
			}
		}
		if visitLeaf(child, childSchema, p, cs, out, depth) {
			found = true
		}
	}
	return found
}

// visitLeaf reports the errors under child, or child's own error.
func visitLeaf(child, childSchema cue.Value, p string, cs []cue.Selector, out *[]rawError, depth int) bool {
	if collectErrors(child, childSchema, p, cs, out, depth+1) {
		return true
	}
	cerr := child.Err()
	if cerr == nil {
		if k := child.IncompleteKind(); k&(cue.StructKind|cue.ListKind) == 0 && !child.IsConcrete() {
			if verr := child.Validate(cue.Concrete(true)); verr != nil {
				cerr = verr
			}
		}
	}
	if cerr == nil {
		return false
	}
	for _, e := range cueerrors.Errors(cerr) {
		*out = append(*out, rawError{path: p, sels: cs, err: e})
	}
	return true
}

func quoteKey(k string) string { return "\"" + strings.ReplaceAll(k, "\"", "\\\"") + "\"" }

// plainSel drops the optional/required marker of a field selector so that
// it can be used to look the field up in other values.
func plainSel(s cue.Selector) cue.Selector {
	switch {
	case s.Type()&cue.IndexLabel != 0:
		return cue.Index(s.Index())
	case s.IsString():
		return cue.Str(s.Unquoted())
	}
	return s
}

// selName is the label of a selector as the user wrote it.
func selName(s cue.Selector) string {
	if s.IsString() {
		return s.Unquoted()
	}
	return s.String()
}

// lookupField finds a field of a schema value whether it is regular,
// optional or required.
func lookupField(v cue.Value, name string) cue.Value {
	for _, s := range []cue.Selector{cue.Str(name), cue.Str(name).Optional(), cue.Str(name).Required()} {
		if x := v.LookupPath(cue.MakePath(s)); x.Exists() {
			return x
		}
	}
	return cue.Value{}
}
