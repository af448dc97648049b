package reconciler

import (
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/meshc/meshc/schema"
)

// loadCache remembers what the loader made of each YAML/JSON blob, so a
// commit that changes one file of a thousand re-validates one file. A
// YAML/JSON file's resources and diagnostics depend only on its content and
// its name, so (path, blob hash) is a sound key. CUE files (packages span
// files and may import) are always loaded afresh, and a tree with a symbolic
// link is loaded whole (a link may point at any file).
type loadCache struct {
	files map[cacheKey]cachedFile
}

type cacheKey struct {
	path string
	hash plumbing.Hash
}

type cachedFile struct {
	resources []schema.Resource
	diags     schema.Errors
}

func newLoadCache() *loadCache { return &loadCache{files: map[cacheKey]cachedFile{}} }

// load loads fsys like schema.LoadFS(fsys, ".", display), reusing the
// results of unchanged YAML/JSON files.
func (c *loadCache) load(fsys *TreeFS, display string) ([]schema.Resource, schema.Errors) {
	files, hasLink, err := docFiles(fsys)
	if err != nil || hasLink {
		c.files = map[cacheKey]cachedFile{}
		return schema.LoadFS(fsys, ".", display)
	}
	hide := map[string]bool{}
	for p, h := range files {
		if _, ok := c.files[cacheKey{p, h}]; ok {
			hide[p] = true
		}
	}
	rs, diags := schema.LoadFS(&hidingFS{TreeFS: fsys, hide: hide}, ".", display)

	// Attribute fresh results to their files, and add the cached ones.
	name := func(p string) string {
		if display == "" {
			return p
		}
		return filepath.ToSlash(filepath.Join(display, p))
	}
	byName := map[string]string{} // display name → path, for fresh files
	next := map[cacheKey]cachedFile{}
	for p, h := range files {
		k := cacheKey{p, h}
		if hide[p] {
			next[k] = c.files[k]
			continue
		}
		byName[name(p)] = p
		next[k] = cachedFile{}
	}
	sound := true // every YAML/JSON result could be attributed to its file
	for _, r := range rs {
		if p, ok := byName[r.Source.Pos.File]; ok {
			k := cacheKey{p, files[p]}
			cf := next[k]
			cf.resources = append(cf.resources, r)
			next[k] = cf
		} else if isDocFile(r.Source.Pos.File) {
			sound = false
		}
	}
	for _, d := range diags {
		if p, ok := byName[d.Pos.File]; ok {
			k := cacheKey{p, files[p]}
			cf := next[k]
			cf.diags = append(cf.diags, d)
			next[k] = cf
		} else if isDocFile(d.Pos.File) {
			sound = false
		}
	}
	for p := range hide {
		cf := next[cacheKey{p, files[p]}]
		rs = append(rs, cf.resources...)
		diags = append(diags, cf.diags...)
	}
	c.files = next
	if !sound {
		// The loader names files differently than expected: caching would
		// lose results, so load everything next time.
		c.files = map[cacheKey]cachedFile{}
	}
	diags.Sort()
	return rs, diags
}

// docFiles lists the regular .yaml/.yml/.json files of fsys with their blob
// hashes, and whether the tree has a symbolic link.
func docFiles(fsys *TreeFS) (map[string]plumbing.Hash, bool, error) {
	files := map[string]plumbing.Hash{}
	hasLink := false
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			hasLink = true
			return fs.SkipAll
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if isDocFile(p) {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files[p] = info.(*treeInfo).hash
		}
		return nil
	})
	return files, hasLink, err
}

// hidingFS is a TreeFS without the files in hide.
type hidingFS struct {
	*TreeFS
	hide map[string]bool
}

func (h *hidingFS) Open(name string) (fs.File, error) {
	if h.hide[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return h.TreeFS.Open(name)
}

func (h *hidingFS) Stat(name string) (fs.FileInfo, error) {
	if h.hide[name] {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return h.TreeFS.Stat(name)
}

func (h *hidingFS) Lstat(name string) (fs.FileInfo, error) {
	if h.hide[name] {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	return h.TreeFS.Lstat(name)
}

func (h *hidingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := h.TreeFS.ReadDir(name)
	if err != nil || len(h.hide) == 0 {
		return es, err
	}
	out := es[:0:0]
	for _, e := range es {
		if !h.hide[path.Join(name, e.Name())] {
			out = append(out, e)
		}
	}
	return out, nil
}

// isDocFile reports whether name is a YAML or JSON file (one file, its own resources).
func isDocFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
