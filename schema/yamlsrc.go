package schema

import (
	"bytes"
	"errors"
	"io"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// loadYAML loads a YAML stream: each document is one resource. Empty
// documents (a leading or trailing ---) are skipped; a file with no
// resources at all gets a warning.
func loadYAML(name string, data []byte) ([]Resource, Errors) {
	dec := cueyaml.NewDecoder(name, bytes.NewReader(data))
	var exprs []ast.Expr
	var errs Errors
	for {
		x, err := dec.Extract()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxErrors(name, "YAML", err)...)
			break // the rest of the stream cannot be trusted
		}
		if isNull(x) {
			continue
		}
		exprs = append(exprs, x)
	}
	if len(exprs) == 0 && len(errs) == 0 {
		return nil, Errors{emptyWarning(name)}
	}
	rs, e := loadExprs(name, exprs, "YAML document")
	return rs, append(errs, e...)
}

// loadJSON loads a JSON file holding one resource (an object) or several
// (an array of objects).
func loadJSON(name string, data []byte) ([]Resource, Errors) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Errors{emptyWarning(name)}
	}
	x, err := cuejson.Extract(name, data)
	if err != nil {
		return nil, syntaxErrors(name, "JSON", err)
	}
	if l, ok := x.(*ast.ListLit); ok {
		if len(l.Elts) == 0 {
			return nil, Errors{emptyWarning(name)}
		}
		return loadExprs(name, l.Elts, "array element")
	}
	return loadExprs(name, []ast.Expr{x}, "JSON value")
}

func emptyWarning(name string) Error {
	return Error{Pos: Pos{File: name}, Msg: "file has no resources", Severity: SeverityWarning}
}

func isNull(x ast.Expr) bool {
	b, ok := x.(*ast.BasicLit)
	return ok && b.Value == "null"
}

// loadExprs validates decoded documents, each expected to be one resource.
func loadExprs(name string, exprs []ast.Expr, what string) ([]Resource, Errors) {
	c := loadSchema()
	if c.err != nil {
		return nil, Errors{Errorf(Pos{File: name}, "%v", c.err)}
	}
	var (
		rs   []Resource
		errs Errors
	)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range exprs {
		pos := toPos(x.Pos())
		if pos.File == "" {
			pos.File = name
		}
		if _, ok := x.(*ast.StructLit); !ok {
			errs = append(errs, Errorf(pos, "%s is not a resource: want a mapping with type, name and the resource's fields", what))
			continue
		}
		fields := map[string]Pos{}
		astFields(x, "", fields)
		v := c.ctx.BuildExpr(x)
		if err := v.Err(); err != nil {
			errs = append(errs, c.translate(err, Source{Pos: pos, Fields: fields}, "")...)
			continue
		}
		r, e := c.validate(doc{file: name, pos: pos, value: v, fields: fields})
		if len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		rs = append(rs, r)
	}
	return rs, errs
}

// syntaxErrors converts a parser error into diagnostics at its positions.
func syntaxErrors(name, lang string, err error) Errors {
	var out Errors
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		pos := toPos(e.Position())
		if pos.File == "" {
			pos.File = name
		}
		out = append(out, Errorf(pos, "%s syntax error: %s", lang, sprintf(format, args)))
	}
	if len(out) == 0 {
		out = Errors{Errorf(Pos{File: name}, "%s syntax error: %v", lang, err)}
	}
	return out
}
