package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/meshc/meshc/schema"
)

func validFormat(f string) bool { return f == "text" || f == "json" || f == "github" }

// summary counts what a validate run saw.
type summary struct {
	Valid       bool          `json:"valid"`
	Resources   int           `json:"resources"`
	Files       int           `json:"files"`
	Errors      int           `json:"errors"`
	Warnings    int           `json:"warnings"`
	Diagnostics schema.Errors `json:"diagnostics"`
}

func summarize(res loaded) summary {
	files := map[string]bool{}
	for _, r := range res.Resources {
		if f := r.Source.Pos.File; f != "" {
			files[f] = true
		}
	}
	s := summary{Resources: len(res.Resources), Diagnostics: res.Diags}
	for _, d := range res.Diags {
		if isSourceFile(d.Pos.File) { // not a directory named in a warning
			files[d.Pos.File] = true
		}
		if d.Severity == schema.SeverityWarning {
			s.Warnings++
		} else {
			s.Errors++
		}
	}
	if s.Diagnostics == nil {
		s.Diagnostics = schema.Errors{}
	}
	s.Files = len(files)
	s.Valid = s.Errors == 0
	return s
}

func isSourceFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json", ".cue":
		return true
	}
	return false
}

// line is the summary sentence: "12 resources in 9 files, 0 errors".
func (s summary) line() string {
	out := fmt.Sprintf("%s in %s, %s", plural(s.Resources, "resource"), plural(s.Files, "file"), plural(s.Errors, "error"))
	if s.Warnings > 0 {
		out += ", " + plural(s.Warnings, "warning")
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// writeReport writes diagnostics and the summary in the chosen format.
func writeReport(w io.Writer, format string, res loaded) error {
	s := summarize(res)
	var b strings.Builder
	switch format {
	case "json":
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return err
		}
	case "github":
		for _, d := range s.Diagnostics {
			b.WriteString(githubAnnotation(d))
			b.WriteByte('\n')
		}
		b.WriteString(s.line())
		b.WriteByte('\n')
	default:
		writeText(&b, s.Diagnostics)
		b.WriteString(s.line())
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText writes one diagnostic a line: "file:line:col: message", with
// "warning: " before the message of a warning.
func writeText(b *strings.Builder, diags schema.Errors) {
	for _, d := range diags {
		b.WriteString(d.Pos.String())
		b.WriteString(": ")
		if d.Severity == schema.SeverityWarning {
			b.WriteString("warning: ")
		}
		b.WriteString(d.Msg)
		b.WriteByte('\n')
	}
}

// githubAnnotation writes a GitHub Actions workflow command:
// ::error file=F,line=L,col=C::message (::warning for warnings).
func githubAnnotation(d schema.Error) string {
	cmd := "error"
	if d.Severity == schema.SeverityWarning {
		cmd = "warning"
	}
	var props []string
	if d.Pos.File != "" {
		props = append(props, "file="+escapeProperty(d.Pos.File))
	}
	if d.Pos.Line > 0 {
		props = append(props, fmt.Sprintf("line=%d", d.Pos.Line))
	}
	if d.Pos.Col > 0 {
		props = append(props, fmt.Sprintf("col=%d", d.Pos.Col))
	}
	props = append(props, "title=meshc validate")
	return "::" + cmd + " " + strings.Join(props, ",") + "::" + escapeData(d.Msg)
}

// escapeData and escapeProperty follow the workflow-command encoding.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
