package reconciler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// DefaultMaxFileSize is the largest blob a Git tree file system hands out (the
// loader reads mesh definitions, never media; a bigger file is an error).
const DefaultMaxFileSize = 4 << 20

// ErrFileTooLarge is returned when opening a blob over the size limit. The
// blob's size comes from the object header: its content is never read.
var ErrFileTooLarge = errors.New("file too large")

// ErrNotRegular is returned when opening a symbolic link or a submodule: a
// Git source reads only regular files and directories of the commit's tree,
// so a link can never reach outside it.
var ErrNotRegular = errors.New("not a regular file")

// TreeFS is a read-only fs.FS over one Git tree, read straight from the
// repository's objects: there is no checkout directory to race with. It is
// safe for concurrent use.
type TreeFS struct {
	mu      sync.Mutex
	s       storer.EncodedObjectStorer
	root    *object.Tree
	modTime time.Time
	maxSize int64
	// Caches: a loader looks up every file several times (walk, stat, open),
	// and go-git decodes a tree again on every FindEntry.
	dirs  map[string]*dirIndex
	sizes map[plumbing.Hash]int64
}

// dirIndex is a decoded tree and its entries by name.
type dirIndex struct {
	tree    *object.Tree
	entries map[string]*object.TreeEntry
}

// NewTreeFS returns a file system over tree, whose objects are in s. modTime
// is reported for every file (usually the commit time); maxSize ≤ 0 means
// DefaultMaxFileSize.
func NewTreeFS(s storer.EncodedObjectStorer, tree *object.Tree, modTime time.Time, maxSize int64) *TreeFS {
	if maxSize <= 0 {
		maxSize = DefaultMaxFileSize
	}
	return &TreeFS{s: s, root: tree, modTime: modTime, maxSize: maxSize,
		dirs: map[string]*dirIndex{}, sizes: map[plumbing.Hash]int64{}}
}

var (
	_ fs.FS         = (*TreeFS)(nil)
	_ fs.ReadDirFS  = (*TreeFS)(nil)
	_ fs.StatFS     = (*TreeFS)(nil)
	_ fs.ReadLinkFS = (*TreeFS)(nil)
)

// Open opens a regular file or a directory. Regular files are read whole into
// memory after their size has been checked against the limit.
func (t *TreeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	info, tree, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if tree != nil {
		entries, err := t.entries(tree)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{info: info, entries: entries}, nil
	}
	switch {
	case info.mode&fs.ModeSymlink != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: symbolic link (Git sources do not follow links)", ErrNotRegular)}
	case !info.mode.IsRegular():
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: submodule (not followed)", ErrNotRegular)}
	case info.size > t.maxSize:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrFileTooLarge, info.size, t.maxSize)}
	}
	blob, err := object.GetBlob(t.s, info.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	rc, err := blob.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, t.maxSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if int64(len(data)) > t.maxSize {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: over the %d-byte limit", ErrFileTooLarge, t.maxSize)}
	}
	return &treeFile{info: info, r: bytes.NewReader(data)}, nil
}

// Stat describes name without reading it.
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	info, _, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return info, nil
}

// Lstat describes name; for a symbolic link, the link itself. (Open and
// Stat never follow links: the loader resolves them with ReadLink and checks
// that they stay inside the tree.)
func (t *TreeFS) Lstat(name string) (fs.FileInfo, error) {
	info, err := t.Stat(name)
	if err != nil {
		err.(*fs.PathError).Op = "lstat"
	}
	return info, err
}

// ReadLink returns the target of the symbolic link name (the link's blob).
func (t *TreeFS) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	info, _, err := t.lookup(name)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if info.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	if info.size > 4096 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("%w: link target of %d bytes", ErrFileTooLarge, info.size)}
	}
	blob, err := object.GetBlob(t.s, info.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	rc, err := blob.Reader()
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	defer rc.Close()
	target, err := io.ReadAll(rc)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

// ReadDir lists a directory, sorted by name.
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, tree, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if tree == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries, err := t.entries(tree)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return entries, nil
}

// lookup finds name; for a directory it also returns its tree.
func (t *TreeFS) lookup(name string) (*treeInfo, *object.Tree, error) {
	if name == "." {
		return &treeInfo{name: ".", mode: fs.ModeDir | 0o755, mod: t.modTime}, t.root, nil
	}
	parent, err := t.dir(path.Dir(name))
	if err != nil {
		return nil, nil, err
	}
	e, ok := parent.entries[path.Base(name)]
	if !ok {
		return nil, nil, fs.ErrNotExist
	}
	info, err := t.entryInfo(e.Name, e)
	if err != nil {
		return nil, nil, err
	}
	if e.Mode == filemode.Dir {
		d, err := t.dir(name)
		if err != nil {
			return nil, nil, err
		}
		return info, d.tree, nil
	}
	return info, nil, nil
}

// dir returns the decoded tree of directory p ("." is the root), cached.
func (t *TreeFS) dir(p string) (*dirIndex, error) {
	if d, ok := t.dirs[p]; ok {
		return d, nil
	}
	var tree *object.Tree
	if p == "." {
		tree = t.root
	} else {
		parent, err := t.dir(path.Dir(p))
		if err != nil {
			return nil, err
		}
		e, ok := parent.entries[path.Base(p)]
		if !ok || e.Mode != filemode.Dir {
			return nil, fs.ErrNotExist
		}
		if tree, err = object.GetTree(t.s, e.Hash); err != nil {
			return nil, err
		}
	}
	d := &dirIndex{tree: tree, entries: make(map[string]*object.TreeEntry, len(tree.Entries))}
	for i := range tree.Entries {
		d.entries[tree.Entries[i].Name] = &tree.Entries[i]
	}
	t.dirs[p] = d
	return d, nil
}

func (t *TreeFS) entries(tree *object.Tree) ([]fs.DirEntry, error) {
	out := make([]fs.DirEntry, 0, len(tree.Entries))
	for i := range tree.Entries {
		info, err := t.entryInfo(tree.Entries[i].Name, &tree.Entries[i])
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// entryInfo describes a tree entry; a blob's size is read from its object
// header only (large objects are not loaded, see the storage's threshold).
func (t *TreeFS) entryInfo(name string, e *object.TreeEntry) (*treeInfo, error) {
	info := &treeInfo{name: name, hash: e.Hash, mod: t.modTime}
	switch e.Mode {
	case filemode.Dir:
		info.mode = fs.ModeDir | 0o755
		return info, nil
	case filemode.Symlink:
		info.mode = fs.ModeSymlink | 0o777
	case filemode.Submodule:
		info.mode = fs.ModeIrregular
		return info, nil
	case filemode.Executable:
		info.mode = 0o755
	default:
		info.mode = 0o644
	}
	size, ok := t.sizes[e.Hash]
	if !ok {
		var err error
		if size, err = t.s.EncodedObjectSize(e.Hash); err != nil {
			return nil, fmt.Errorf("size of %s (%s): %w", name, e.Hash, err)
		}
		t.sizes[e.Hash] = size
	}
	info.size = size
	return info, nil
}

// treeInfo is the fs.FileInfo of a tree entry.
type treeInfo struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
	hash plumbing.Hash
}

func (i *treeInfo) Name() string       { return i.name }
func (i *treeInfo) Size() int64        { return i.size }
func (i *treeInfo) Mode() fs.FileMode  { return i.mode }
func (i *treeInfo) ModTime() time.Time { return i.mod }
func (i *treeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *treeInfo) Sys() any           { return nil }

// treeFile is an open regular file.
type treeFile struct {
	info *treeInfo
	r    *bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *treeFile) Close() error               { return nil }

// treeDir is an open directory.
type treeDir struct {
	info    *treeInfo
	entries []fs.DirEntry
	off     int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
