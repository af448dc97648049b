package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/meshc/meshc/compiler"
)

// stateFile is the last good bundle, in the state dir.
const stateFile = "bundle.json"

// persisted is the state file's content.
type persisted struct {
	AppliedAt time.Time        `json:"appliedAt"`
	Bundle    *compiler.Bundle `json:"bundle"`
}

// loadState reads the persisted bundle; (nil, nil) when there is none.
func loadState(dir string) (*persisted, error) {
	if dir == "" {
		return nil, nil
	}
	p := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", p, err)
	}
	var st persisted
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read state %s: %w (delete it to start without a bundle)", p, err)
	}
	if st.Bundle == nil || st.Bundle.Version == "" {
		return nil, fmt.Errorf("read state %s: no bundle in it (delete it to start without a bundle)", p)
	}
	return &st, nil
}

// saveState writes the bundle atomically: a temporary file in the same
// directory, synced, then renamed over the old one (and the directory synced),
// so a crash leaves either the old or the new bundle, never half of one.
func saveState(dir string, st *persisted) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	f, err := os.CreateTemp(dir, stateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write state %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write state %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
