package dns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// stateFile is the persisted allocation (JSON, keys sorted, one file per zone).
type stateFile struct {
	Version int         `json:"version"`
	Pools   []statePool `json:"pools"`
}

type statePool struct {
	Mesh     string                `json:"mesh"`
	CIDR     netip.Prefix          `json:"cidr"`
	VIPs     map[string]netip.Addr `json:"vips"`
	Released []stateRelease        `json:"released,omitempty"`
}

type stateRelease struct {
	Key   string     `json:"key"`
	Addr  netip.Addr `json:"addr"`
	Until time.Time  `json:"until"`
}

const stateVersion = 1

// loadState reads the allocation at path; a missing file is an empty allocation.
// A damaged file is an error: starting afresh would move every VIP under
// clients that cached the old ones, so the operator decides.
func loadState(path string) (map[poolKey]*pool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[poolKey]*pool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vip: read state: %w", err)
	}
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("vip: state file %s is damaged: %s; restore it, or move it aside to allocate new VIPs (clients may keep old ones for the DNS TTL)",
			path, fmt.Sprintf(format, args...))
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, damaged("%v", err)
	}
	if st.Version != stateVersion {
		return nil, damaged("version %d, want %d", st.Version, stateVersion)
	}
	pools := map[poolKey]*pool{}
	for i, sp := range st.Pools {
		if !sp.CIDR.IsValid() || sp.Mesh == "" {
			return nil, damaged("pool %d has no mesh or range", i)
		}
		k := poolKey{mesh: sp.Mesh, v6: sp.CIDR.Addr().Is6()}
		if pools[k] != nil {
			return nil, damaged("mesh %q has two ranges of one family", sp.Mesh)
		}
		p := newPool(sp.Mesh, sp.CIDR)
		for key, addr := range sp.VIPs {
			if !sp.CIDR.Contains(addr) {
				return nil, damaged("mesh %q: %s of %s is outside %s", sp.Mesh, addr, describeKey(key), sp.CIDR)
			}
			if other, dup := p.byAddr[addr]; dup {
				return nil, damaged("mesh %q: %s is given to both %s and %s", sp.Mesh, addr, describeKey(other), describeKey(key))
			}
			p.byKey[key], p.byAddr[addr] = addr, key
		}
		for _, r := range sp.Released {
			if _, used := p.byAddr[r.Addr]; used || !sp.CIDR.Contains(r.Addr) {
				return nil, damaged("mesh %q: released %s is in use or outside %s", sp.Mesh, r.Addr, sp.CIDR)
			}
			if _, held := p.relByKey[r.Key]; held {
				return nil, damaged("mesh %q: %s released twice", sp.Mesh, describeKey(r.Key))
			}
			p.released[r.Addr] = release{Key: r.Key, Until: r.Until}
			p.relByKey[r.Key] = r.Addr
		}
		pools[k] = p
	}
	return pools, nil
}

// saveState writes the allocation atomically: a temporary file in the same
// directory, synced, renamed over path, then the directory synced.
func saveState(path string, pools map[poolKey]*pool) error {
	st := stateFile{Version: stateVersion}
	for _, p := range pools {
		sp := statePool{Mesh: p.mesh, CIDR: p.cidr, VIPs: p.byKey}
		for addr, r := range p.released {
			sp.Released = append(sp.Released, stateRelease{Key: r.Key, Addr: addr, Until: r.Until.UTC()})
		}
		sort.Slice(sp.Released, func(i, j int) bool { return sp.Released[i].Key < sp.Released[j].Key })
		st.Pools = append(st.Pools, sp)
	}
	sort.Slice(st.Pools, func(i, j int) bool {
		if st.Pools[i].Mesh != st.Pools[j].Mesh {
			return st.Pools[i].Mesh < st.Pools[j].Mesh
		}
		return st.Pools[i].CIDR.Addr().Is4()
	})
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("vip: encode state: %w", err)
	}
	return writeFileAtomic(path, data)
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vip: save state: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("vip: save state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("vip: save state %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("vip: save state %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vip: save state %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("vip: save state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
