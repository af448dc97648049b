package kds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/pki"
)

// StateFile is the zone's last-known-good global state inside its state dir.
// It holds mesh CA keys: it is written with mode 0600.
const StateFile = "kds-global-state.json"

type persistedState struct {
	BundleVersion string              `json:"bundleVersion"`
	BundleCommit  string              `json:"bundleCommit,omitempty"`
	SavedAt       time.Time           `json:"savedAt"`
	Resources     []persistedResource `json:"resources"`
}

type persistedResource struct {
	Kind string `json:"kind"`
	Mesh string `json:"mesh,omitempty"`
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
	Body []byte `json:"body"` // base64: cheap to write on every update
}

type persistJob struct {
	st State
	m  meta
}

// schedulePersist queues the applied state for writing; a newer state
// replaces one not yet written (writes coalesce, the ACK does not wait).
func (c *Client) schedulePersist(st State, m meta) {
	if c.opts.StateDir == "" {
		return
	}
	c.pmu.Lock()
	c.pending = &persistJob{st: st, m: m}
	c.pmu.Unlock()
	select {
	case c.pkick <- struct{}{}:
	default:
	}
}

// persistLoop writes queued states until ctx ends, then writes the last one.
func (c *Client) persistLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			c.flushPersist()
			return
		case <-c.pkick:
			c.flushPersist()
		}
	}
}

func (c *Client) flushPersist() {
	c.pmu.Lock()
	j := c.pending
	c.pending = nil
	c.pmu.Unlock()
	if j == nil {
		return
	}
	if err := c.persist(j.st, j.m); err != nil {
		c.log.Error("applied, but could not persist the global state (a restart without the global would serve the previous one)", "err", err)
	}
}

func (c *Client) statePath() string { return filepath.Join(c.opts.StateDir, StateFile) }

// persist writes the applied global state atomically.
func (c *Client) persist(st State, m meta) error {
	if c.opts.StateDir == "" {
		return nil
	}
	ps := persistedState{BundleVersion: m.BundleVersion, BundleCommit: m.BundleCommit, SavedAt: time.Now().UTC()}
	for _, k := range st.Sorted() {
		p := st[k].Res
		ps.Resources = append(ps.Resources, persistedResource{Kind: p.Kind, Mesh: p.Mesh, Name: p.Name, Zone: p.Zone, Body: p.Body})
	}
	data, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(c.statePath(), data, 0o600)
}

// loadPersisted hands the persisted state, if any, to the sink.
func (c *Client) loadPersisted() error {
	if c.opts.StateDir == "" {
		return nil
	}
	data, err := os.ReadFile(c.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kds: read persisted global state: %w", err)
	}
	var ps persistedState
	if err := json.Unmarshal(data, &ps); err != nil {
		return fmt.Errorf("kds: persisted global state %s is corrupt: %w (delete it; the zone then waits for the global)", c.statePath(), err)
	}
	st := State{}
	for _, r := range ps.Resources {
		st.Put(&kdsv1.Resource{Kind: r.Kind, Mesh: r.Mesh, Name: r.Name, Zone: r.Zone, Body: r.Body})
	}
	m := meta{BundleVersion: ps.BundleVersion, BundleCommit: ps.BundleCommit}
	gs, cache, err := decodeGlobalState(st, m, nil)
	if err != nil {
		return fmt.Errorf("kds: persisted global state %s: %w (delete it; the zone then waits for the global)", c.statePath(), err)
	}
	if err := c.opts.Sink.Apply(gs); err != nil {
		return fmt.Errorf("kds: apply persisted global state %s: %w", c.statePath(), err)
	}
	c.in.state, c.in.meta, c.cache = st, m, cache
	c.insight.BundleVersion, c.insight.BundleCommit = m.BundleVersion, m.BundleCommit
	c.status.BundleVersion, c.status.BundleCommit = m.BundleVersion, m.BundleCommit
	c.status.RemoteIngresses, c.lastRemote = gs.RemoteIngresses, gs.RemoteIngresses
	c.log.Info("serving the persisted global state until the global answers", "bundleVersion", m.BundleVersion, "savedAt", ps.SavedAt)
	return nil
}
