package schema

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// loadYAML loads a YAML stream: each document is one resource. Empty
// documents (a leading or trailing ---) are skipped; a file with no
// resources at all gets a warning.
func loadYAML(c *compiled, name string, data []byte) ([]Resource, Errors) {
	data = normalizeNewlines(data)
	dec := cueyaml.NewDecoder(name, bytes.NewReader(data))
	var exprs []ast.Expr
	var errs Errors
	for {
		x, err := dec.Extract()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxErrors(name, "YAML", err, data)...)
			break // the rest of the stream cannot be trusted
		}
		if isNull(x) {
			continue
		}
		exprs = append(exprs, x)
	}
	if len(exprs) == 0 && len(errs) == 0 {
		return nil, Errors{emptyWarning(name, data)}
	}
	rs, e := loadExprs(c, name, exprs, "YAML document")
	return rs, append(errs, e...)
}

// loadJSON loads a JSON file holding one resource (an object) or several
// (an array of objects).
func loadJSON(c *compiled, name string, data []byte) ([]Resource, Errors) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Errors{emptyFile(name)}
	}
	x, err := cuejson.Extract(name, data)
	if err != nil {
		return nil, syntaxErrors(name, "JSON", err, data)
	}
	if l, ok := x.(*ast.ListLit); ok {
		if len(l.Elts) == 0 {
			return nil, Errors{{Pos: toPos(l.Pos()), Msg: "file has no resources (empty array)", Severity: SeverityWarning}}
		}
		return loadExprs(c, name, l.Elts, "array element")
	}
	return loadExprs(c, name, []ast.Expr{x}, "JSON value")
}

// emptyFile is an error: an empty file in a mesh repo is most often an
// accident (a truncated file, a failed merge) that would silently drop
// resources. A file holding only comments (or only "---") was written that
// way on purpose and gets a warning.
func emptyFile(name string) Error {
	return Errorf(Pos{File: name}, "file is empty: add resources or delete the file")
}

func emptyWarning(name string, data []byte) Error {
	if len(bytes.TrimSpace(data)) == 0 {
		return emptyFile(name)
	}
	return Error{Pos: Pos{File: name}, Msg: "file has no resources (only comments)", Severity: SeverityWarning}
}

// isNull reports an empty document: the YAML decoder turns one into null
// or, for a document with no content at all, *null | _.
func isNull(x ast.Expr) bool {
	switch n := x.(type) {
	case *ast.BasicLit:
		return n.Value == "null"
	case *ast.BinaryExpr:
		u, ok := n.X.(*ast.UnaryExpr)
		id, ok2 := n.Y.(*ast.Ident)
		return ok && ok2 && n.Op == token.OR && u.Op == token.MUL && isNull(u.X) && id.Name == "_"
	}
	return false
}

// loadExprs validates decoded documents, each expected to be one resource.
func loadExprs(c *compiled, name string, exprs []ast.Expr, what string) ([]Resource, Errors) {
	if c.err != nil {
		return nil, Errors{Errorf(Pos{File: name}, "%v", c.err)}
	}
	var (
		rs   []Resource
		errs Errors
	)
	for _, x := range exprs {
		pos := toPos(x.Pos())
		if pos.File == "" {
			pos.File = name
		}
		if _, ok := x.(*ast.StructLit); !ok {
			errs = append(errs, Errorf(pos, "%s is not a resource: want a mapping with type, name and the resource's fields", what))
			continue
		}
		var dups Errors
		if duplicateKeys(x, "", &dups); len(dups) > 0 {
			for i := range dups {
				if dups[i].Pos.File == "" {
					dups[i].Pos = pos
				}
			}
			errs = append(errs, dups...)
			continue
		}
		fields := map[string]Pos{}
		astFields(x, "", fields)
		v := c.ctx.BuildExpr(x)
		if err := v.Err(); err != nil {
			errs = append(errs, c.translate(err, Source{Pos: pos, Fields: fields})...)
			continue
		}
		r, e := c.validate(doc{pos: pos, value: v, fields: fields, syntax: x})
		if len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		rs = append(rs, r)
	}
	for i := range errs {
		if errs[i].Pos.File == "" {
			errs[i].Pos = Pos{File: name} // every diagnostic names its file
		}
	}
	return rs, errs
}

// syntaxErrors converts a parser error into diagnostics at its positions.
var lineMsgRe = regexp.MustCompile(`:([0-9]+): (.*)$`)

func syntaxErrors(name, lang string, err error, data []byte) Errors {
	var out Errors
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := sprintf(format, args)
		pos := toPos(e.Position())
		if pos.File == "" {
			pos.File = name
		}
		if pos.Line == 0 {
			// The YAML parser reports "file:line: message" without a position.
			if m := lineMsgRe.FindStringSubmatch(e.Error()); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
				msg = m[2]
				// go-yaml v3 reports parser errors ("did not find expected
				// …") with a 0-based line, scanner errors with a 1-based one.
				if strings.HasPrefix(msg, "did not find expected") {
					pos.Line++
				}
				if n := lineCount(data); pos.Line > n {
					pos.Line = n // errors at the end of input
				}
			}
		}
		if msg == "" {
			msg = e.Error()
		}
		out = append(out, Errorf(pos, "%s syntax error: %s", lang, msg))
	}
	if len(out) == 0 {
		out = Errors{Errorf(Pos{File: name}, "%s syntax error: %v", lang, err)}
	}
	return out
}

// normalizeNewlines turns CRLF and lone CR line breaks into LF. YAML treats
// all three as line breaks; CUE's YAML decoder (v0.17.1) indexes out of
// range on a lone CR. Lines and columns stay the same.
func normalizeNewlines(data []byte) []byte {
	if bytes.IndexByte(data, '\r') < 0 {
		return data
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
}

// lineCount is the number of lines an editor shows for data.
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return max(n, 1)
}
