package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"cuelang.org/go/cue/ast"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// DecodeResource decodes exactly one resource from a YAML or JSON body (an
// HTTP API request, a KDS message), validated and defaulted. name is used
// as the file name in positions (e.g. "request body").
func DecodeResource(name string, data []byte) (r Resource, errs Errors) {
	defer func() {
		if v := recover(); v != nil {
			r, errs = Resource{}, Errors{internalError(name, v)}
		}
	}()
	if len(data) > MaxFileSize {
		return Resource{}, Errors{tooBig(name, int64(len(data)))}
	}
	if e, ok := checkUTF8(name, data); !ok {
		return Resource{}, Errors{e}
	}
	data = normalizeNewlines(data)
	dec := cueyaml.NewDecoder(name, bytes.NewReader(data))
	var exprs []ast.Expr
	for {
		x, err := dec.Extract()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Resource{}, syntaxErrors(name, "YAML/JSON", err, data)
		}
		if !isNull(x) {
			exprs = append(exprs, x)
		}
		if len(exprs) > 1 {
			break // no need to parse the rest of a body that is already wrong
		}
	}
	switch len(exprs) {
	case 0:
		return Resource{}, Errors{Errorf(Pos{File: name}, "empty body: want one resource")}
	case 1:
	default:
		return Resource{}, Errors{Errorf(toPos(exprs[1].Pos()), "more than one resource: want exactly one document")}
	}
	c := acquire()
	rs, errs := loadExprs(c, name, exprs, "body")
	release(c)
	if errs.HasErrors() || len(rs) != 1 {
		if len(errs) == 0 {
			errs = Errors{Errorf(Pos{File: name}, "no resource decoded")}
		}
		return Resource{}, errs
	}
	return rs[0], errs
}

func sprintf(format string, args []any) string { return fmt.Sprintf(format, args...) }
