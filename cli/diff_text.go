package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// diffReport is what meshc diff prints (-o json as is).
type diffReport struct {
	From    diffRef                   `json:"from"`
	To      diffRef                   `json:"to"`
	Added   []compiler.ResourceChange `json:"added"`
	Removed []compiler.ResourceChange `json:"removed"`
	Changed []compiler.ResourceChange `json:"changed"`
	Effects compiler.Effects          `json:"effects"`
	Proxies []compiler.ProxyChange    `json:"proxies,omitempty"` // with --inventory (issue 5)
}

// diffRef names a side: what the user asked for, and the bundle it compiled to.
type diffRef struct {
	Label   string `json:"label"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

func newDiffReport(from, to *diffSide, d *compiler.BundleDiff) *diffReport {
	nonNil := func(cs []compiler.ResourceChange) []compiler.ResourceChange {
		if cs == nil {
			return []compiler.ResourceChange{}
		}
		return cs
	}
	return &diffReport{
		From:  diffRef{Label: from.Label, Version: d.From.Version, Commit: d.From.Commit},
		To:    diffRef{Label: to.Label, Version: d.To.Version, Commit: d.To.Commit},
		Added: nonNil(d.Added), Removed: nonNil(d.Removed), Changed: nonNil(d.Changed), Effects: d.Effects,
	}
}

// colorOK: colour only on a terminal, and never with NO_COLOR set.
func colorOK(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

type palette struct{ add, del, mod, dim, reset string }

func paletteFor(color bool) palette {
	if !color {
		return palette{}
	}
	return palette{add: "\x1b[32m", del: "\x1b[31m", mod: "\x1b[33m", dim: "\x1b[2m", reset: "\x1b[0m"}
}

// writeDiffText prints the plan preview for people.
func writeDiffText(w io.Writer, r *diffReport, color bool) {
	p := paletteFor(color)
	fmt.Fprintf(w, "%s → %s\n", r.From.Label, r.To.Label)
	n := len(r.Added) + len(r.Removed) + len(r.Changed)
	if n == 0 && len(r.Proxies) == 0 {
		fmt.Fprintf(w, "No changes: both sides compile to bundle version %s.\n", r.To.Version)
		return
	}
	fmt.Fprintln(w)
	type line struct {
		key schema.Key
		out string
	}
	var lines []line
	for _, c := range r.Added {
		lines = append(lines, line{c.Key, fmt.Sprintf("%s+ %s%s  %s(%s)%s\n", p.add, c.Key, p.reset, p.dim, c.Pos, p.reset)})
	}
	for _, c := range r.Removed {
		lines = append(lines, line{c.Key, fmt.Sprintf("%s- %s%s  %s(was %s)%s\n", p.del, c.Key, p.reset, p.dim, c.Pos, p.reset)})
	}
	for _, c := range r.Changed {
		var b strings.Builder
		fmt.Fprintf(&b, "%s~ %s%s  %s(%s)%s\n", p.mod, c.Key, p.reset, p.dim, c.Pos, p.reset)
		for _, f := range c.Fields {
			at := ""
			if f.Pos.Line > 0 {
				at = fmt.Sprintf("  %s(%s)%s", p.dim, f.Pos, p.reset)
			}
			switch f.Op {
			case compiler.FieldAdded:
				fmt.Fprintf(&b, "    %s: %s+ %s%s%s\n", f.Path, p.add, value(f.To), p.reset, at)
			case compiler.FieldRemoved:
				fmt.Fprintf(&b, "    %s: %s- %s%s%s\n", f.Path, p.del, value(f.From), p.reset, at)
			default:
				fmt.Fprintf(&b, "    %s: %s → %s%s\n", f.Path, value(f.From), value(f.To), at)
			}
		}
		lines = append(lines, line{c.Key, b.String()})
	}
	// One list in resource order, whatever the kind of change.
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j].key.Less(lines[j-1].key); j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	for _, l := range lines {
		io.WriteString(w, l.out)
	}

	e := r.Effects
	fmt.Fprintln(w, "\nEffects:")
	fmt.Fprintf(w, "  meshes:    %s\n", list(e.Meshes))
	if len(e.MeshWide) > 0 {
		fmt.Fprintf(w, "  mesh-wide: %s (every proxy of the mesh)\n", list(e.MeshWide))
	}
	svcs := make([]string, len(e.Services))
	for i, s := range e.Services {
		svcs[i] = s.String()
	}
	fmt.Fprintf(w, "  services:  %s\n", list(svcs))
	routes := make([]string, len(e.Routes))
	for i, k := range e.Routes {
		routes[i] = k.String()
	}
	fmt.Fprintf(w, "  routes:    %s\n", list(routes))
	if len(e.Zones) > 0 {
		fmt.Fprintf(w, "  zones:     %s\n", list(e.Zones))
	}
	for _, pc := range r.Proxies {
		fmt.Fprintf(w, "  proxy %s:\n", pc.Proxy)
		for _, ch := range pc.Changes {
			fmt.Fprintf(w, "    %s\n", ch)
		}
	}
	fmt.Fprintf(w, "\n%d resource(s) differ: %d added, %d changed, %d removed (bundle %s → %s).\n",
		n, len(r.Added), len(r.Changed), len(r.Removed), orNone(r.From.Version), orNone(r.To.Version))
}

// value renders a field value as compact JSON, shortened when long.
func value(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "(none)"
	}
	return strings.Join(xs, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}
