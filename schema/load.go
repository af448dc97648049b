package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxFileSize is the largest source file the loader reads. Mesh resources are
// small; a bigger file is almost always a mistake (a log, a binary, a dump).
const MaxFileSize = 4 << 20

// LoadPaths loads every resource under the given files and directories, in
// order. Positions name files as the caller gave them
// (examples/payments/mesh.yaml:3:5). A directory is walked in lexical order;
// hidden entries (.git, .github, …) and cue.mod are skipped and files other
// than .yaml, .yml, .json and .cue are ignored. Errors in one file do not stop
// the others; the returned resources are those that validated.
func LoadPaths(paths ...string) ([]Resource, Errors) {
	var (
		rs   []Resource
		errs Errors
	)
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, Errorf(Pos{File: p}, "cannot read: %v", unwrapPathErr(err)))
			continue
		}
		if info.IsDir() {
			l := newLoader(os.DirFS(p), p)
			if real, err := filepath.EvalSymlinks(p); err == nil {
				if abs, err := filepath.Abs(real); err == nil {
					l.osRoot = abs
				}
			}
			r, e := l.walk(".")
			rs, errs = append(rs, r...), append(errs, e...)
			continue
		}
		l := newLoader(os.DirFS(filepath.Dir(p)), "")
		r, e := l.loadSingle(filepath.Base(p), p, info)
		rs, errs = append(rs, r...), append(errs, e...)
	}
	errs.Sort()
	return rs, errs
}

// LoadFS loads every resource under root in fsys (a Git tree, an os.DirFS, an
// in-memory map). File names in positions are display joined with the path
// relative to root. Symlinks are resolved inside fsys when it implements
// fs.ReadLinkFS; a link that leaves root is an error.
func LoadFS(fsys fs.FS, root string, display string) ([]Resource, Errors) {
	if root == "" {
		root = "."
	}
	rs, errs := newLoader(fsys, display).walk(root)
	errs.Sort()
	return rs, errs
}

// loader walks one root. It is used by one goroutine.
type loader struct {
	fsys    fs.FS
	display string
	osRoot  string // absolute real path of the root when fsys is an os.DirFS
	root    string
	errs    Errors               // problems found while walking
	jobs    []*job               // YAML/JSON files in walk order, then CUE directories
	cue     map[string][]cueFile // CUE files by directory
	cueDirs []string
}

func newLoader(fsys fs.FS, display string) *loader {
	return &loader{fsys: fsys, display: display, cue: map[string][]cueFile{}}
}

// name returns the display name of a path relative to the fs root.
func (l *loader) name(p string) string {
	rel := p
	if l.root != "" && l.root != "." {
		rel = strings.TrimPrefix(strings.TrimPrefix(p, l.root), "/")
	}
	if l.display == "" {
		return rel
	}
	if rel == "." || rel == "" {
		return l.display
	}
	return filepath.ToSlash(filepath.Join(l.display, rel))
}

// Kind of a source file by its extension.
type fileKind int

const (
	kindOther fileKind = iota
	kindYAML
	kindJSON
	kindCUE
)

func kindOf(name string) fileKind {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml":
		return kindYAML
	case ".json":
		return kindJSON
	case ".cue":
		return kindCUE
	}
	return kindOther
}

func (l *loader) walk(root string) ([]Resource, Errors) {
	l.root = root
	err := fs.WalkDir(l.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.errs = append(l.errs, Errorf(Pos{File: l.name(p)}, "cannot read: %v", unwrapPathErr(err)))
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		base := path.Base(p)
		if p != root && (strings.HasPrefix(base, ".") || (d.IsDir() && base == "cue.mod")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if kindOf(p) == kindOther {
			if d.Type()&fs.ModeSymlink != 0 {
				if info, err := fs.Stat(l.fsys, p); err == nil && info.IsDir() {
					l.errs = append(l.errs, Error{Pos: Pos{File: l.name(p)}, Msg: "symlink to a directory is not followed; list the directory itself instead", Severity: SeverityWarning})
				}
			}
			return nil
		}
		l.readFile(p, d)
		return nil
	})
	if err != nil {
		l.errs = append(l.errs, Errorf(Pos{File: l.name(root)}, "cannot read: %v", unwrapPathErr(err)))
	}
	return l.run()
}

// loadSingle loads a file the user named directly.
func (l *loader) loadSingle(base, display string, info fs.FileInfo) ([]Resource, Errors) {
	l.display = display
	l.root = base
	if kindOf(base) == kindOther {
		return nil, Errors{Errorf(Pos{File: display}, "not a resource file: want .yaml, .yml, .json or .cue")}
	}
	if info.Size() > MaxFileSize {
		return nil, Errors{tooBig(display, info.Size())}
	}
	data, err := fs.ReadFile(l.fsys, base)
	if err != nil {
		return nil, Errors{Errorf(Pos{File: display}, "cannot read: %v", unwrapPathErr(err))}
	}
	l.addData(base, display, data)
	return l.run()
}

// readFile reads one file found by the walk, following symlinks that stay
// inside the root, and queues it.
func (l *loader) readFile(p string, d fs.DirEntry) {
	name := l.name(p)
	fail := func(e Error) { l.errs = append(l.errs, e) }
	readPath := p
	if d.Type()&fs.ModeSymlink != 0 {
		target, isDir, err := l.resolveLink(p)
		if err != nil {
			fail(Errorf(Pos{File: name}, "%v", err))
			return
		}
		if isDir {
			fail(Error{Pos: Pos{File: name}, Msg: "symlink to a directory is not followed; list the directory itself instead", Severity: SeverityWarning})
			return
		}
		readPath = target
	}
	info, err := fs.Stat(l.fsys, readPath)
	if err != nil {
		fail(Errorf(Pos{File: name}, "cannot read: %v", unwrapPathErr(err)))
		return
	}
	if !info.Mode().IsRegular() {
		fail(Errorf(Pos{File: name}, "not a regular file"))
		return
	}
	if info.Size() > MaxFileSize {
		fail(tooBig(name, info.Size()))
		return
	}
	data, err := fs.ReadFile(l.fsys, readPath)
	if err != nil {
		fail(Errorf(Pos{File: name}, "cannot read: %v", unwrapPathErr(err)))
		return
	}
	if int64(len(data)) > MaxFileSize {
		fail(tooBig(name, int64(len(data))))
		return
	}
	l.addData(p, name, data)
}

func tooBig(name string, size int64) Error {
	return Errorf(Pos{File: name}, "file is %.1f MiB, over the %d MiB limit for one file; split it into smaller files", float64(size)/(1<<20), MaxFileSize>>20)
}

// addData queues a file's content: YAML and JSON files are jobs of their
// own, CUE files are grouped by directory into one job each after the walk.
func (l *loader) addData(p, name string, data []byte) {
	if e, ok := checkUTF8(name, data); !ok {
		l.errs = append(l.errs, e)
		return
	}
	switch k := kindOf(p); k {
	case kindYAML, kindJSON:
		l.jobs = append(l.jobs, &job{kind: k, name: name, data: data})
	case kindCUE:
		dir := path.Dir(p)
		if _, ok := l.cue[dir]; !ok {
			l.cueDirs = append(l.cueDirs, dir)
		}
		l.cue[dir] = append(l.cue[dir], cueFile{name: name, data: data})
	}
}

// checkUTF8 reports the first byte that is not UTF-8, with its line and column.
func checkUTF8(name string, data []byte) (Error, bool) {
	if utf8.Valid(data) {
		return Error{}, true
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return Errorf(Pos{File: name, Line: line, Col: col}, "file is not valid UTF-8 (byte 0x%02x at offset %d); save it as UTF-8", data[i], i), false
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return Errorf(Pos{File: name}, "file is not valid UTF-8; save it as UTF-8"), false
}

// resolveLink resolves the symlink at p (relative to the fs root) and checks
// that it stays inside the root. It returns the target path inside fsys.
func (l *loader) resolveLink(p string) (string, bool, error) {
	if l.osRoot != "" {
		full := filepath.Join(l.osRoot, filepath.FromSlash(p))
		real, err := filepath.EvalSymlinks(full)
		if err != nil {
			return "", false, fmt.Errorf("broken symlink: %v", unwrapPathErr(err))
		}
		rel, err := filepath.Rel(l.osRoot, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", false, fmt.Errorf("symlink points outside the repository (to %s); copy the file into the repository instead", real)
		}
		info, err := os.Stat(real)
		if err != nil {
			return "", false, fmt.Errorf("broken symlink: %v", unwrapPathErr(err))
		}
		return filepath.ToSlash(rel), info.IsDir(), nil
	}
	rl, ok := l.fsys.(fs.ReadLinkFS)
	if !ok {
		return "", false, fmt.Errorf("symlinks cannot be resolved in this source; replace the link by the file")
	}
	cur := p
	for hops := 0; hops < 16; hops++ {
		target, err := rl.ReadLink(cur)
		if err != nil {
			return "", false, fmt.Errorf("cannot read symlink: %v", unwrapPathErr(err))
		}
		if path.IsAbs(target) || filepath.IsAbs(target) {
			return "", false, fmt.Errorf("symlink points outside the repository (to %s); copy the file into the repository instead", target)
		}
		next := path.Join(path.Dir(cur), target)
		if !fs.ValidPath(next) || !within(l.root, next) {
			return "", false, fmt.Errorf("symlink points outside the repository (to %s); copy the file into the repository instead", target)
		}
		info, err := rl.Lstat(next)
		if err != nil {
			return "", false, fmt.Errorf("broken symlink: %v", unwrapPathErr(err))
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return next, info.IsDir(), nil
		}
		cur = next
	}
	return "", false, fmt.Errorf("too many levels of symlinks")
}

func within(root, p string) bool {
	if root == "." || root == "" {
		return p != ".." && !strings.HasPrefix(p, "../")
	}
	return p == root || strings.HasPrefix(p, root+"/")
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
