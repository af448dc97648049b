package schema

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// namedConstraints describe the schema's named string formats. At schema
// build time each is probed with a bad value so that the bound CUE prints in
// its error can be mapped back to this description.
var namedConstraints = []struct{ def, desc string }{
	{"#Name", "must be an RFC 1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. payments-v2)"},
	{"#Duration", "must be a duration such as 500ms, 10s, 1h30m, 7d or 10y"},
	{"#TagKey", tagKeyDesc},
	{"#TagValue", "must be a tag value: 1 to 253 letters, digits and . _ - : /"},
	{"#SelectorValue", "must be a tag value (letters, digits and . _ - : /) or \"*\""},
	{"#Address", "must be an IP address or a hostname"},
	{"#HostPort", "must be host:port, e.g. api.example.com:443 or [fd00::1]:443"},
}

const tagKeyDesc = "must be a tag key: letters, digits and . _ - : /, starting with a letter or digit (e.g. kuma.io/service, version)"

var fixedBounds = map[string]string{
	`=~"^.{1,253}$"`: "must be 1 to 253 characters long",
	`=~"^.+$"`:       "must not be empty",
	`=~"^/"`:         "must start with \"/\"",
}

// probeBounds fills c.bounds from namedConstraints.
func (c *compiled) probeBounds(schemaV cue.Value) {
	c.bounds = map[string]string{}
	for k, v := range fixedBounds {
		c.bounds[k] = v
	}
	probe := c.ctx.Encode("\x00!")
	for _, nc := range namedConstraints {
		d := schemaV.LookupPath(cue.ParsePath(nc.def))
		err := d.Unify(probe).Validate(cue.Concrete(true))
		for _, e := range cueerrors.Errors(err) {
			f, a := e.Msg()
			if b := boundOf(fmt.Sprintf(f, a...)); b != "" {
				if _, fixed := fixedBounds[b]; !fixed {
					c.bounds[b] = nc.desc
				}
			}
		}
	}
}

var boundRe = regexp.MustCompile(`\(out of bound (.*)\)$`)

func boundOf(msg string) string {
	if m := boundRe.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

var (
	enumRe      = regexp.MustCompile(`^=~"\^\(([^()]*)\)\$"$`)
	numBoundRe  = regexp.MustCompile(`^(>=|<=|>|<)(-?[0-9.]+)$`)
	mismatchRe  = regexp.MustCompile(`\(mismatched types (\w+) and (\w+)\)$`)
	invalidRe   = regexp.MustCompile(`^invalid value (.*) \(out of bound (.*)\)$`)
	satisfyRe   = regexp.MustCompile(`^invalid value (.*) \(does not satisfy net\.IPCIDR\)`)
	incomplRe   = regexp.MustCompile(`^incomplete value (.*)$`)
	disjunctRe  = regexp.MustCompile(`errors in empty disjunction:?$`)
	conflictRe  = regexp.MustCompile(`^conflicting values (.*) and (.*)$`)
	requiredMsg = "field is required but not present"
)

// rank orders messages of one field: lower is more useful.
func rank(msg string) int {
	switch {
	case disjunctRe.MatchString(msg):
		return 9
	case strings.HasPrefix(msg, "conflicting values") && !mismatchRe.MatchString(msg):
		return 5
	case strings.HasPrefix(msg, "wrong type"):
		return 1
	}
	return 0
}

// report turns raw errors into diagnostics, one per field path, at the
// user's positions, with messages a Kuma user can act on.
func (c *compiled) report(raws []rawError, src Source, user, unified cue.Value) Errors {
	type cand struct {
		e    Error
		rank int
	}
	best := map[string]cand{}
	var order []string
	for _, r := range raws {
		msg := r.msg
		pos := src.At(r.path)
		if msg == "field not allowed" {
			msg = c.message(msg, r, user, unified)
		}
		if r.err != nil {
			f, a := r.err.Msg()
			msg = c.message(fmt.Sprintf(f, a...), r, user, unified)
			pos = userPos(r.err, src, r.path)
		}
		cd := cand{Error{Pos: pos, Path: r.path, Msg: msg, Severity: SeverityError}, rank(msg)}
		old, ok := best[r.path]
		if !ok {
			order = append(order, r.path)
		}
		if !ok || cd.rank < old.rank {
			best[r.path] = cd
		}
	}
	var out Errors
	for _, p := range order {
		e := best[p].e
		if strings.HasPrefix(e.Msg, "missing required field") {
			if pp := parentPath(p); pp != "" {
				e.Msg = pp + ": " + e.Msg
			}
		} else if p != "" {
			e.Msg = p + ": " + e.Msg
		}
		out = append(out, e)
	}
	out.Sort()
	return out
}

// message rewrites one CUE message for the field at r.path.
func (c *compiled) message(msg string, r rawError, user, unified cue.Value) string {
	last := ""
	if n := len(r.sels); n > 0 {
		last = selName(r.sels[n-1])
	}
	parentLast := ""
	if n := len(r.sels); n > 1 {
		parentLast = selName(r.sels[n-2])
	}
	switch {
	case msg == "field not allowed":
		if parentLast == "tags" || parentLast == "match" {
			return fmt.Sprintf("invalid tag key %q: %s", last, tagKeyDesc)
		}
		return fmt.Sprintf("unknown field %q%s", last, allowedFields(unified, r.sels))
	case msg == requiredMsg:
		return fmt.Sprintf("missing required field %q", last)
	case satisfyRe.MatchString(msg):
		m := satisfyRe.FindStringSubmatch(msg)
		return fmt.Sprintf("invalid value %s: must be a CIDR such as 10.0.0.0/8 or fd00::/8", m[1])
	case invalidRe.MatchString(msg):
		m := invalidRe.FindStringSubmatch(msg)
		return fmt.Sprintf("invalid value %s: %s", m[1], c.describeBound(m[2], last))
	case mismatchRe.MatchString(msg):
		want, got := mismatch(msg, user.LookupPath(cue.MakePath(r.sels...)))
		if got == "" {
			return fmt.Sprintf("wrong type: want %s", want)
		}
		return fmt.Sprintf("wrong type: want %s, got %s", want, got)
	case incomplRe.MatchString(msg):
		m := incomplRe.FindStringSubmatch(msg)
		if len(m[1]) > 40 {
			return "needs a concrete value: it is only constrained, never set"
		}
		return fmt.Sprintf("needs a concrete value, got %s", m[1])
	}
	return msg
}

func (c *compiled) describeBound(b, field string) string {
	if d, ok := c.bounds[b]; ok {
		return d
	}
	if m := enumRe.FindStringSubmatch(b); m != nil {
		alts := strings.Split(m[1], "|")
		if len(alts) == 1 {
			return fmt.Sprintf("must be %s", alts[0])
		}
		return "must be one of " + strings.Join(alts, ", ")
	}
	if m := numBoundRe.FindStringSubmatch(b); m != nil {
		if strings.Contains(strings.ToLower(field), "port") {
			return "must be a port number from 1 to 65535"
		}
		switch m[1] {
		case ">=":
			return "must be at least " + m[2]
		case "<=":
			return "must be at most " + m[2]
		case ">":
			return "must be greater than " + m[2]
		case "<":
			return "must be less than " + m[2]
		}
	}
	return "must match " + b
}

// allowedFields lists the fields the definition allows beside an unknown one.
func allowedFields(unified cue.Value, sels []cue.Selector) string {
	if len(sels) == 0 {
		return ""
	}
	parent := unified.LookupPath(cue.MakePath(sels[:len(sels)-1]...))
	it, err := parent.Fields(cue.Optional(true))
	if err != nil {
		return ""
	}
	bad := selName(sels[len(sels)-1])
	var names []string
	for it.Next() {
		if sel := it.Selector(); sel.IsString() && sel.Unquoted() != bad {
			names = append(names, sel.Unquoted())
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	hint := ""
	if s := Closest(bad, names); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return hint + "; allowed here: " + strings.Join(names, ", ")
}

// Closest returns the candidate nearest to s when it is a likely typo: at
// most 2 edits (1 for short words), or the same letters in another case; "" if none.
// Messages use it for "did you mean …?" hints.
func Closest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	for _, c := range candidates {
		if strings.EqualFold(c, s) {
			return c
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindOfValue(v cue.Value) string {
	if !v.Exists() {
		return ""
	}
	switch v.IncompleteKind() {
	case cue.StringKind:
		s, _ := v.String()
		return fmt.Sprintf("string %q", s)
	case cue.IntKind:
		return "int " + fmt.Sprint(v)
	case cue.FloatKind, cue.NumberKind:
		return "number " + fmt.Sprint(v)
	case cue.BoolKind:
		return "bool " + fmt.Sprint(v)
	case cue.StructKind:
		return "a mapping"
	case cue.ListKind:
		return "a list"
	case cue.NullKind:
		return "null"
	}
	return ""
}

var kindWords = map[string]bool{"bool": true, "string": true, "int": true, "float": true, "number": true, "bytes": true, "null": true, "struct": true, "list": true}

// mismatch works out the wanted kind and the user's value from a CUE
// "conflicting values A and B (mismatched types X and Y)" message: the side
// that is a bare kind is what the schema wants.
func mismatch(msg string, user cue.Value) (want, got string) {
	m := mismatchRe.FindStringSubmatch(msg)
	want = m[1]
	got = kindOfValue(user)
	if cm := conflictRe.FindStringSubmatch(strings.TrimSpace(mismatchRe.ReplaceAllString(msg, ""))); cm != nil {
		a, b := cm[1], cm[2]
		switch {
		case kindWords[a] && !kindWords[b]:
			want, got = a, withKind(m[2], b, got)
		case kindWords[b] && !kindWords[a]:
			want, got = b, withKind(m[1], a, got)
		default:
			if strings.HasPrefix(got, m[1]) || (m[1] == "struct" && got == "a mapping") || (m[1] == "list" && got == "a list") {
				want = m[2]
			}
		}
	}
	switch want {
	case "struct":
		want = "a mapping"
	case "list":
		want = "a list"
	}
	return want, got
}

func withKind(kind, lit, fallback string) string {
	if fallback != "" {
		return fallback
	}
	switch kind {
	case "struct":
		return "a mapping"
	case "list":
		return "a list"
	}
	return kind + " " + lit
}
