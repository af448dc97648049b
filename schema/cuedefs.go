package schema

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// SchemaImportPath is the import path under which CUE files in a mesh repo
// reach the embedded definitions:
//
//	import "meshc.dev/schema"
//	resources: [schema.#MeshTimeout & {name: "t", mesh: "default", spec: {...}}]
const SchemaImportPath = "meshc.dev/schema"

// schemaFilePrefix marks positions inside the embedded definitions, so that
// error positions and Source.Fields only name the user's files.
const schemaFilePrefix = "meshc.dev/schema/"

//go:embed cue/*.cue
var cueFiles embed.FS

// compiled is the embedded schema built in one cue.Context.
type compiled struct {
	claimed atomic.Bool // the first one is handed out once, then pooled
	uses    int
	// exportOnly turns off the Go decoding of plain documents (tests).
	exportOnly bool
	ctx        *cue.Context
	inst       *build.Instance // the schema package, handed to CUE imports
	defs       map[string]cue.Value
	err        error
	// bounds maps constraint text in CUE messages to a description.
	bounds map[string]string
}

// Each compiled schema lives in its own cue.Context, which is not safe for
// concurrent use. Loaders take one from the pool per goroutine, so files are
// validated in parallel; a context is retired after maxUses resources so
// that a long-running process does not grow CUE's runtime index forever.
const maxUses = 20000

var (
	schemaPool  = make(chan *compiled, 64)
	firstSchema struct {
		once sync.Once
		c    *compiled
	}
)

// acquire returns a compiled schema for the caller's exclusive use.
func acquire() *compiled {
	firstSchema.once.Do(func() { firstSchema.c = compileSchema() })
	if firstSchema.c.err != nil {
		return firstSchema.c
	}
	select {
	case c := <-schemaPool:
		return c
	default:
	}
	if firstSchema.c.claimed.CompareAndSwap(false, true) {
		return firstSchema.c
	}
	return compileSchema()
}

// release hands c back to the pool.
func release(c *compiled) {
	if c.err != nil || c.uses > maxUses {
		return
	}
	select {
	case schemaPool <- c:
	default:
	}
}

// loadSchema compiles the schema (once) and reports whether it is usable.
func loadSchema() *compiled {
	c := acquire()
	release(c)
	return c
}

func compileSchema() *compiled {
	c := &compiled{ctx: cuecontext.New(), defs: map[string]cue.Value{}}
	inst, err := schemaInstance()
	if err != nil {
		c.err = err
		return c
	}
	c.inst = inst
	v := c.ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		c.err = fmt.Errorf("embedded schema: %w", err)
		return c
	}
	for _, t := range append(append([]string{}, GitTypes...), ZoneTypes...) {
		d := v.LookupPath(cue.MakePath(cue.Def(t)))
		if !d.Exists() {
			c.err = fmt.Errorf("embedded schema: no definition #%s", t)
			return c
		}
		c.defs[t] = d
	}
	c.probeBounds(v)
	return c
}

// schemaInstance parses the embedded .cue files into a build instance.
func schemaInstance() (*build.Instance, error) {
	names, err := fs.Glob(cueFiles, "cue/*.cue")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	inst := build.NewContext().NewInstance(SchemaImportPath, nil)
	inst.ImportPath = SchemaImportPath
	for _, n := range names {
		src, err := cueFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(schemaFilePrefix+path.Base(n), src)
		if err != nil {
			return nil, fmt.Errorf("embedded schema: %w", err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, fmt.Errorf("embedded schema: %w", err)
		}
	}
	if err := inst.Complete(); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	return inst, nil
}

// SchemaFiles returns the embedded CUE definitions by file name, for
// documentation and for tools that want to vendor them.
func SchemaFiles() map[string][]byte {
	out := map[string][]byte{}
	names, _ := fs.Glob(cueFiles, "cue/*.cue")
	for _, n := range names {
		b, _ := cueFiles.ReadFile(n)
		out[path.Base(n)] = b
	}
	return out
}

// AllTypes lists every resource type the schema defines, sorted.
func AllTypes() []string {
	ts := append(append([]string{}, GitTypes...), ZoneTypes...)
	sort.Strings(ts)
	return ts
}

func isSchemaFile(name string) bool { return strings.HasPrefix(name, schemaFilePrefix) }

// importLoader resolves imports of user CUE packages: the schema package by
// its import path, standard-library packages by CUE itself (nil), anything
// else is an error at the import.
func (c *compiled) importLoader(bctx *build.Context) build.LoadFunc {
	return func(pos token.Pos, p string) *build.Instance {
		if p == SchemaImportPath {
			return c.inst
		}
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(first, ".") {
			return nil // standard library (strings, list, net, …)
		}
		inst := bctx.NewInstance(p, nil)
		inst.Err = errors.Newf(pos, "cannot import %q: only %q and the CUE standard library can be imported", p, SchemaImportPath)
		return inst
	}
}
