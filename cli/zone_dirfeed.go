package cli

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// dirFeed compiles dir now and after every (debounced) change, calling apply
// with each new valid bundle; an invalid edit is logged and changes nothing.
//
// Interim: the reconciler's DirSource (last-known-good persistence, GET
// /bundle status) replaces this once it is on main.
func dirFeed(dir string, log *slog.Logger, apply func(*compiler.Bundle)) (func(context.Context) error, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--dir %s: not a readable directory", dir)
	}
	return func(ctx context.Context) error {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("watch %s: %w", dir, err)
		}
		defer w.Close()
		addTree := func() {
			_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					_ = w.Add(p)
				}
				return nil
			})
		}
		addTree()
		var current string
		load := func() {
			rs, errs := schema.LoadPaths(dir)
			if errs.HasErrors() {
				log.Error("mesh definitions invalid; keeping the last good bundle", "dir", dir, "errors", errs.Error())
				return
			}
			b, cerrs := compiler.Compile(rs, compiler.Options{})
			if cerrs.HasErrors() {
				log.Error("mesh definitions do not compile; keeping the last good bundle", "dir", dir, "errors", cerrs.Error())
				return
			}
			if b.Version != current {
				current = b.Version
				log.Info("bundle compiled", "dir", dir, "version", b.Version, "resources", len(b.Resources))
				apply(b)
			}
		}
		load()
		debounce := time.NewTimer(time.Hour)
		debounce.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev, ok := <-w.Events:
				if !ok {
					return nil
				}
				if ev.Has(fsnotify.Create) {
					addTree()
				}
				debounce.Reset(150 * time.Millisecond)
			case err, ok := <-w.Errors:
				if !ok {
					return nil
				}
				log.Warn("watch error", "dir", dir, "err", err)
			case <-debounce.C:
				load()
			}
		}
	}, nil
}
