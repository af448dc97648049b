package schema

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
)

// cueFile is a .cue source waiting to be loaded with its package.
type cueFile struct {
	name string // display name
	data []byte
}

// loadCUEDir loads the CUE files of one directory. The files that declare
// the same package (or none) form one package, evaluated on its own; its
// top-level `resources` field (a list, or a struct of any labels) holds
// resources. A syntax error in a file skips its package.
func loadCUEDir(c *compiled, dir string, files []cueFile) ([]Resource, Errors) {
	var (
		rs   []Resource
		errs Errors
	)
	byPkg := map[string][]*ast.File{}
	var order []string
	bad := map[string]bool{}
	for _, f := range files {
		af, err := parser.ParseFile(f.name, f.data)
		if err != nil {
			errs = append(errs, syntaxErrors(f.name, "CUE", err, f.data)...)
			if af != nil {
				bad[af.PackageName()] = true
			}
			continue
		}
		pkg := af.PackageName()
		if _, ok := byPkg[pkg]; !ok {
			order = append(order, pkg)
		}
		byPkg[pkg] = append(byPkg[pkg], af)
	}
	for _, pkg := range order {
		if bad[pkg] {
			continue
		}
		r, e := loadCUEPackage(c, dir, byPkg[pkg])
		rs, errs = append(rs, r...), append(errs, e...)
	}
	return rs, errs
}

// loadCUEPackage evaluates one package and validates each of its resources.
func loadCUEPackage(c *compiled, dir string, files []*ast.File) ([]Resource, Errors) {
	first := Pos{File: files[0].Filename}
	if c.err != nil {
		return nil, Errors{Errorf(first, "%v", c.err)}
	}

	c.uses += len(files) // each build adds to the context's index
	if errs := checkImports(files); len(errs) > 0 {
		return nil, errs
	}
	bctx := build.NewContext()
	inst := bctx.NewInstance(dir, c.importLoader(bctx))
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			return nil, c.translate(err, Source{Pos: first})
		}
	}
	if err := inst.Complete(); err != nil {
		return nil, c.translate(err, Source{Pos: first})
	}
	v := c.ctx.BuildInstance(inst)
	res := v.LookupPath(cue.MakePath(cue.Str("resources")))
	if !res.Exists() {
		if err := v.Err(); err != nil {
			return nil, c.translate(err, Source{Pos: first})
		}
		return nil, Errors{{Pos: first, Msg: "CUE package defines no top-level \"resources\" field; nothing loaded", Severity: SeverityWarning}}
	}
	resPos := toPos(res.Pos())
	if resPos.File == "" {
		resPos = first
	}
	var (
		rs   []Resource
		errs Errors
	)
	add := func(label string, ev cue.Value) {
		pos := toPos(ev.Pos())
		if pos.File == "" || isSchemaFile(pos.File) {
			pos = resPos
		}
		if ev.Err() == nil && ev.IncompleteKind() != cue.StructKind {
			errs = append(errs, Errorf(pos, "%s is not a resource: want a struct with type, name and the resource's fields", label))
			return
		}
		r, e := c.validate(doc{pos: pos, value: ev, label: label, isCUE: true})
		if len(e) > 0 {
			errs = append(errs, e...)
			return
		}
		rs = append(rs, r)
	}
	if res.Err() == nil && res.IncompleteKind()&(cue.ListKind|cue.StructKind) == 0 {
		return nil, Errors{Errorf(resPos, "\"resources\" must be a list or a struct of resources")}
	}
	// Errors outside `resources` (a conflict in a helper field or template)
	// are errors of the package too; those inside are reported per resource.
	if err := v.Validate(); err != nil {
		var outside []cueerrors.Error
		for _, e := range cueerrors.Errors(err) {
			if p := e.Path(); len(p) == 0 || p[0] != "resources" {
				outside = append(outside, e)
			}
		}
		if len(outside) > 0 {
			errs = append(errs, c.translate(listErr(outside), Source{Pos: first})...)
		}
	}
	n := 0
	if l, err := res.List(); err == nil {
		for ; l.Next(); n++ {
			add("resources["+strconv.Itoa(n)+"]", l.Value())
		}
		return rs, errs
	}
	// Fields iterates the elements of a list in error too (List does not).
	it, err := res.Fields()
	if err != nil {
		if e := res.Err(); e != nil {
			err = e
		}
		return nil, c.translate(err, Source{Pos: resPos})
	}
	for it.Next() {
		n++
		sel := it.Selector()
		if sel.Type()&cue.IndexLabel != 0 {
			add("resources["+sel.String()+"]", it.Value())
			continue
		}
		add(joinKey("resources", sel.Unquoted()), it.Value())
	}
	if n == 0 && res.IncompleteKind()&(cue.ListKind|cue.StructKind) == 0 {
		return nil, Errors{Errorf(resPos, "\"resources\" must be a list or a struct of resources")}
	}
	return rs, errs
}

// checkImports reports imports other than the schema package and the CUE
// standard library, at the import.
func checkImports(files []*ast.File) Errors {
	var errs Errors
	for _, f := range files {
		for spec := range f.ImportSpecs() {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil || p == SchemaImportPath || isStdImport(p) {
				continue
			}
			errs = append(errs, Errorf(toPos(spec.Path.Pos()), "cannot import %q: only %q and the CUE standard library can be imported", p, SchemaImportPath))
		}
	}
	return errs
}

func isStdImport(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// listErr joins CUE errors into one error value.
func listErr(es []cueerrors.Error) cueerrors.Error {
	var out cueerrors.Error
	for _, e := range es {
		out = cueerrors.Append(out, e)
	}
	return out
}
