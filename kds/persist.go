package kds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/pki"
	"google.golang.org/protobuf/proto"
)

// StateFile is the zone's last-known-good global state inside its state dir:
// a full kds.v1.Update (protobuf), so loading it checks its state hash like
// any update. It holds mesh CA keys: it is written with mode 0600.
const StateFile = "kds-global-state.pb"

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
	u := &kdsv1.Update{Full: true, StateHash: st.Hash(), BundleVersion: m.BundleVersion, BundleCommit: m.BundleCommit}
	for _, e := range st { // any order: loading applies it as a full update
		u.Upserts = append(u.Upserts, e.Res)
	}
	data, err := proto.Marshal(u)
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
	var u kdsv1.Update
	err = proto.Unmarshal(data, &u)
	var st State
	if err == nil {
		st, err = State{}.Apply(&u)
	}
	if err != nil {
		return fmt.Errorf("kds: persisted global state %s is corrupt: %w (delete it; the zone then waits for the global)", c.statePath(), err)
	}
	m := meta{BundleVersion: u.BundleVersion, BundleCommit: u.BundleCommit}
	gs, cache, err := decodeGlobalState(st, m, decodeCache{})
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
	c.log.Info("serving the persisted global state until the global answers", "bundleVersion", m.BundleVersion, "file", c.statePath())
	return nil
}
