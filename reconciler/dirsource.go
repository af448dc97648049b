package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/meshc/meshc/schema"
)

// DirSource reads mesh definitions from a local directory and watches it with
// fsnotify (the inner development loop: edit, save, see the bundle change).
type DirSource struct {
	dir      string
	debounce time.Duration
}

// NewDirSource returns a source over dir; changes are reported once no event
// arrived for debounce (default 200ms), so an editor's save burst is one change.
func NewDirSource(dir string, debounce time.Duration) (*DirSource, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("dir source: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("dir source: %s is not a directory", dir)
	}
	if debounce <= 0 {
		debounce = 200 * time.Millisecond
	}
	return &DirSource{dir: dir, debounce: debounce}, nil
}

func (d *DirSource) String() string { return d.dir }

// Fetch loads the directory as it is now. The revision is empty: a
// directory's revision is its bundle's content version.
func (d *DirSource) Fetch(context.Context) (*Snapshot, error) {
	if _, err := os.Stat(d.dir); err != nil {
		return nil, &FetchError{Reason: ReasonFetchFailed, Err: fmt.Errorf("dir source: %w", err)}
	}
	return &Snapshot{
		Describe: d.dir,
		Load:     func() ([]schema.Resource, schema.Errors) { return schema.LoadPaths(d.dir) },
	}, nil
}

// StartWatch watches the directory tree (new sub-directories included) and
// calls changed after each debounced burst of events, until ctx is done.
func (d *DirSource) StartWatch(ctx context.Context, changed func()) (<-chan error, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", d.dir, err)
	}
	if err := addTree(w, d.dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %s: %w", d.dir, err)
	}
	done := make(chan error, 1)
	go func() {
		defer close(done)
		defer w.Close()
		done <- d.watch(ctx, w, changed)
	}()
	return done, nil
}

func (d *DirSource) watch(ctx context.Context, w *fsnotify.Watcher, changed func()) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch: event channel closed")
			}
			if isHidden(d.dir, ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = addTree(w, ev.Name) // a directory made (or moved in) with files already in it
				}
			}
			timer.Reset(d.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch: error channel closed")
			}
			// Overflow or similar: events may be lost, so reload to be sure.
			timer.Reset(d.debounce)
			_ = err
		case <-timer.C:
			changed()
		}
	}
}

// addTree watches dir and every non-hidden directory under it.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(e.Name(), ".") {
			return filepath.SkipDir
		}
		return w.Add(p)
	})
}

// isHidden reports whether p is under a dot-directory or is a dot-file (.git, editor swap files).
func isHidden(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if strings.HasPrefix(part, ".") && part != "." && part != ".." {
			return true
		}
	}
	return false
}
