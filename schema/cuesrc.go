package schema

import (

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/parser"
)

// cueFile is a .cue source waiting to be loaded with its package.
type cueFile struct {
	name string // display name
	data []byte
}

// loadCUEPackages loads the CUE files collected by the walk. The files of
// one directory that declare the same package (or none) form one package,
// evaluated on its own; its top-level `resources` field (a list, or a struct
// of any labels) holds resources. A syntax error in a file skips its package.
func (l *loader) loadCUEPackages() ([]Resource, Errors) {
	var (
		rs   []Resource
		errs Errors
	)
	for _, dir := range l.cueDirs {
		files := l.cue[dir]
		byPkg := map[string][]*ast.File{}
		var order []string
		bad := map[string]bool{}
		for _, f := range files {
			af, err := parser.ParseFile(f.name, f.data)
			if err != nil {
				errs = append(errs, syntaxErrors(f.name, "CUE", err)...)
				// Its package is unknown; best effort: skip the file's
				// declared package if the clause parsed.
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
			r, e := loadCUEPackage(dir, byPkg[pkg])
			rs, errs = append(rs, r...), append(errs, e...)
		}
	}
	l.cue, l.cueDirs = map[string][]cueFile{}, nil
	return rs, errs
}

// loadCUEPackage evaluates one package and validates each of its resources.
func loadCUEPackage(dir string, files []*ast.File) ([]Resource, Errors) {
	c := loadSchema()
	first := Pos{File: files[0].Filename}
	if c.err != nil {
		return nil, Errors{Errorf(first, "%v", c.err)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	bctx := build.NewContext()
	inst := bctx.NewInstance(dir, c.importLoader(bctx))
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			return nil, c.translate(err, Source{Pos: first}, "")
		}
	}
	if err := inst.Complete(); err != nil {
		return nil, c.translate(err, Source{Pos: first}, "")
	}
	v := c.ctx.BuildInstance(inst)
	res := v.LookupPath(cue.MakePath(cue.Str("resources")))
	if !res.Exists() {
		if err := v.Err(); err != nil {
			return nil, c.translate(err, Source{Pos: first}, "")
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
		if err := ev.Err(); err != nil {
			errs = append(errs, c.translate(err, Source{Pos: pos}, "")...)
			return
		}
		if ev.IncompleteKind() != cue.StructKind {
			errs = append(errs, Errorf(pos, "%s is not a resource: want a struct with type, name and the resource's fields", label))
			return
		}
		fields := map[string]Pos{}
		valueFields(ev, "", fields, 0)
		r, e := c.validate(doc{file: pos.File, pos: pos, value: ev, fields: fields, label: label})
		if len(e) > 0 {
			errs = append(errs, e...)
			return
		}
		rs = append(rs, r)
	}
	// Fields iterates list elements too, and still works when one element
	// is in error (List does not).
	it, err := res.Fields()
	if err != nil {
		if e := res.Err(); e != nil {
			err = e
		}
		return nil, c.translate(err, Source{Pos: resPos}, "")
	}
	n := 0
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
