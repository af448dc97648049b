package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a source file; Line and Col count from 1 (0 when unknown).
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Source records where a resource came from: its own position and the
// position of every field path the loader saw (e.g. "spec.to[0].rules[0]").
type Source struct {
	Pos    Pos
	Fields map[string]Pos
}

// At returns the position of a field path, falling back to the nearest
// enclosing path that has one, then to the resource itself.
func (s Source) At(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := s.Fields[p]; ok {
			return pos
		}
	}
	return s.Pos
}

// parentPath drops the last element of a field path: "a.b[0]" → "a.b",
// `a.tags["kuma.io/service"]` → "a.tags" (dots inside quotes do not count).
func parentPath(p string) string {
	cut, inQuote := -1, false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == '.' || c == '['):
			cut = i
		}
	}
	if cut <= 0 {
		return ""
	}
	return p[:cut]
}

// Severity of a diagnostic.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Error is one diagnostic: where, which field, what is wrong.
type Error struct {
	Pos      Pos      `json:"pos"`
	Path     string   `json:"path,omitempty"` // field path inside the resource, if any
	Resource string   `json:"resource,omitempty"`
	Msg      string   `json:"message"`
	Severity Severity `json:"severity"`
}

func (e Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errorf makes an error-severity diagnostic at pos.
func Errorf(pos Pos, format string, args ...any) Error {
	return Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Severity: SeverityError}
}

// Errors is a list of diagnostics; it implements error.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any diagnostic has error severity (warnings do not count).
func (es Errors) HasErrors() bool {
	for _, e := range es {
		if e.Severity != SeverityWarning {
			return true
		}
	}
	return false
}

// Err returns es as an error if it holds any error-severity diagnostic, else nil.
func (es Errors) Err() error {
	if es.HasErrors() {
		return es
	}
	return nil
}

// Sort orders diagnostics by file, line, column, message.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return es[i].Msg < es[j].Msg
	})
}
