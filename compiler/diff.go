package compiler

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"

	"github.com/meshc/meshc/schema"
)

// BundleDiff is what changes from one bundle to another: resources added,
// removed and changed (each change down to the field path), then the
// effects — meshes, services and routes touched. Both sides are compiled
// bundles, so resources are compared in their normalized, defaulted form: a
// default the schema fills in never shows up as a change.
type BundleDiff struct {
	From    BundleRef        `json:"from"`
	To      BundleRef        `json:"to"`
	Added   []ResourceChange `json:"added"`
	Removed []ResourceChange `json:"removed"`
	Changed []ResourceChange `json:"changed"`
	Effects Effects          `json:"effects"`
}

// BundleRef names one side of a diff.
type BundleRef struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// ResourceChange is one resource added, removed or changed.
type ResourceChange struct {
	Key schema.Key `json:"key"`
	// Pos is where the resource is defined (the new side; the old side for a removal).
	Pos schema.Pos `json:"pos"`
	// Fields lists the field changes of a changed resource, by path.
	Fields []FieldChange `json:"fields,omitempty"`
}

// Field change kinds.
const (
	FieldAdded   = "added"
	FieldRemoved = "removed"
	FieldChanged = "changed"
)

// FieldChange is one leaf (or whole sub-tree, when one side lacks it) that
// differs, e.g. spec.to[0].rules[0].default.backendRefs[1].weight: 10 → 50.
type FieldChange struct {
	Path string `json:"path"`
	Op   string `json:"op"`
	From any    `json:"from,omitempty"`
	To   any    `json:"to,omitempty"`
	// Pos is the field's position on the new side (the old side for a removal).
	Pos schema.Pos `json:"pos"`
}

// Effects summarizes what a diff touches.
type Effects struct {
	Meshes []string `json:"meshes"`
	// MeshWide lists meshes where a change applies to every proxy (the Mesh
	// itself, or a policy targeting kind Mesh or MeshSubset).
	MeshWide []string     `json:"meshWide"`
	Services []ServiceRef `json:"services"`
	Routes   []schema.Key `json:"routes"`
	Zones    []string     `json:"zones"`
}

// ServiceRef is a service (kuma.io/service) in a mesh.
type ServiceRef struct {
	Mesh string `json:"mesh"`
	Name string `json:"name"`
}

func (s ServiceRef) String() string { return s.Mesh + "/" + s.Name }

// Empty reports whether nothing changed.
func (d *BundleDiff) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0
}

// Diff compares bundle from with bundle to (either may be nil: no resources).
func Diff(from, to *Bundle) (*BundleDiff, error) {
	if from == nil {
		from = &Bundle{}
	}
	if to == nil {
		to = &Bundle{}
	}
	d := &BundleDiff{
		From: BundleRef{Version: from.Version, Commit: from.Commit},
		To:   BundleRef{Version: to.Version, Commit: to.Commit},
	}
	old := indexResources(from.Resources)
	eff := newEffectSet()
	for i := range to.Resources {
		r := &to.Resources[i]
		o, ok := old[r.Key()]
		if !ok {
			d.Added = append(d.Added, ResourceChange{Key: r.Key(), Pos: r.Source.Pos})
			eff.add(r)
			continue
		}
		fields, err := diffResource(o, r)
		if err != nil {
			return nil, err
		}
		if len(fields) > 0 {
			d.Changed = append(d.Changed, ResourceChange{Key: r.Key(), Pos: r.Source.Pos, Fields: fields})
			eff.add(o)
			eff.add(r)
		}
	}
	now := indexResources(to.Resources)
	for i := range from.Resources {
		r := &from.Resources[i]
		if _, ok := now[r.Key()]; !ok {
			d.Removed = append(d.Removed, ResourceChange{Key: r.Key(), Pos: r.Source.Pos})
			eff.add(r)
		}
	}
	for _, l := range [][]ResourceChange{d.Added, d.Removed, d.Changed} {
		sort.Slice(l, func(i, j int) bool { return l[i].Key.Less(l[j].Key) })
	}
	d.Effects = eff.effects()
	return d, nil
}

func indexResources(rs []schema.Resource) map[schema.Key]*schema.Resource {
	m := make(map[schema.Key]*schema.Resource, len(rs))
	for i := range rs {
		m[rs[i].Key()] = &rs[i]
	}
	return m
}

// diffResource compares the universal JSON forms of a and b, field by field.
func diffResource(a, b *schema.Resource) ([]FieldChange, error) {
	av, err := genericForm(a)
	if err != nil {
		return nil, err
	}
	bv, err := genericForm(b)
	if err != nil {
		return nil, err
	}
	var out []FieldChange
	diffValue("", av, bv, func(path, op string, from, to any) {
		pos := b.Source.At(path)
		if op == FieldRemoved {
			pos = a.Source.At(path)
		}
		out = append(out, FieldChange{Path: path, Op: op, From: from, To: to, Pos: pos})
	})
	return out, nil
}

// genericForm is the resource as generic JSON without its identity fields.
func genericForm(r *schema.Resource) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", r.Key(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("diff %s: %w", r.Key(), err)
	}
	delete(m, "type")
	delete(m, "name")
	delete(m, "mesh")
	return m, nil
}

// diffValue reports the differences between a and b under path: objects key
// by key, lists index by index, anything else as a whole.
func diffValue(path string, a, b any, emit func(path, op string, from, to any)) {
	switch {
	case a == nil && b == nil:
		return
	case a == nil:
		emit(path, FieldAdded, nil, b)
		return
	case b == nil:
		emit(path, FieldRemoved, a, nil)
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			diffValue(joinKey(path, k), am[k], bm[k], emit)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		diffList(path, al, bl, emit)
		return
	}
	if !reflect.DeepEqual(a, b) {
		emit(path, FieldChanged, a, b)
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinKey appends an object key to a path: .key, or ["kuma.io/service"] for
// keys that are not identifiers.
func joinKey(path, k string) string {
	if !plainKey.MatchString(k) {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// diffList compares two lists. Equal lengths compare index by index (values
// edited in place). Otherwise elements equal on both sides are aligned first
// (longest common subsequence), so inserting one element reports one added
// element rather than every later one changed; between aligned elements the
// rest pair up in order, the surplus added or removed. Paths use the new
// index, and the old one for a removal.
func diffList(path string, a, b []any, emit func(path, op string, from, to any)) {
	idx := func(i int) string { return path + "[" + strconv.Itoa(i) + "]" }
	if len(a) == len(b) {
		for i := range a {
			diffValue(idx(i), a[i], b[i], emit)
		}
		return
	}
	// lcs[i][j] = length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if reflect.DeepEqual(a[i], b[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var gapA, gapB []int // unaligned indexes since the last aligned pair
	flush := func() {
		pairGap(gapA, gapB, a, b, func(i, j int) {
			switch {
			case j < 0:
				emit(idx(i), FieldRemoved, a[i], nil)
			case i < 0:
				emit(idx(j), FieldAdded, nil, b[j])
			default:
				diffValue(idx(j), a[i], b[j], emit)
			}
		})
		gapA, gapB = gapA[:0], gapB[:0]
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case reflect.DeepEqual(a[i], b[j]):
			flush()
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			gapA = append(gapA, i)
			i++
		default:
			gapB = append(gapB, j)
			j++
		}
	}
	for ; i < len(a); i++ {
		gapA = append(gapA, i)
	}
	for ; j < len(b); j++ {
		gapB = append(gapB, j)
	}
	flush()
}

// pairGap matches the unaligned elements ga of a with gb of b, in order,
// pairing the most similar ones (most equal fields); visit gets (i, j) for a
// pair, (i, -1) for a removal and (-1, j) for an addition.
func pairGap(ga, gb []int, a, b []any, visit func(i, j int)) {
	// best[x][y]: the highest total similarity pairing ga[x:] with gb[y:].
	best := make([][]int, len(ga)+1)
	for x := range best {
		best[x] = make([]int, len(gb)+1)
	}
	for x := len(ga) - 1; x >= 0; x-- {
		for y := len(gb) - 1; y >= 0; y-- {
			best[x][y] = max(best[x+1][y], best[x][y+1])
			if sim := similarity(a[ga[x]], b[gb[y]]); sim > 0 {
				best[x][y] = max(best[x][y], sim+best[x+1][y+1])
			}
		}
	}
	x, y := 0, 0
	for x < len(ga) && y < len(gb) {
		sim := similarity(a[ga[x]], b[gb[y]])
		switch {
		case sim > 0 && best[x][y] == sim+best[x+1][y+1]:
			visit(ga[x], gb[y])
			x, y = x+1, y+1
		case best[x][y] == best[x+1][y]:
			visit(ga[x], -1)
			x++
		default:
			visit(-1, gb[y])
			y++
		}
	}
	for ; x < len(ga); x++ {
		visit(ga[x], -1)
	}
	for ; y < len(gb); y++ {
		visit(-1, gb[y])
	}
}

// similarity counts the fields two objects have in common (0 for non-objects).
func similarity(x, y any) int {
	xm, ok1 := x.(map[string]any)
	ym, ok2 := y.(map[string]any)
	if !ok1 || !ok2 {
		return 0
	}
	n := 0
	for k, v := range xm {
		if w, ok := ym[k]; ok && reflect.DeepEqual(v, w) {
			n++
		}
	}
	return n
}
