package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// DefaultVIPCIDR is the range VIPs come from when neither the Mesh
// (networking.vipCIDR) nor the zone (--dns-vip-cidr) says otherwise.
const DefaultVIPCIDR = "240.0.0.0/4"

// DefaultVIPGrace is how long a freed VIP stays out of reach of other services
// (DESIGN.md §4: VIPs are not reused at once, unlike kuma#2607).
const DefaultVIPGrace = time.Hour

// AllocatorConfig configures an Allocator.
type AllocatorConfig struct {
	// StatePath is the file the allocation is persisted to (written atomically);
	// empty keeps it in memory only.
	StatePath string
	// DefaultCIDRs are the ranges of meshes that set none: at most one IPv4 and
	// one IPv6 range (IPv6 VIPs answer AAAA queries). Empty means DefaultVIPCIDR.
	DefaultCIDRs []netip.Prefix
	// Grace is how long a freed VIP is held back (DefaultVIPGrace when 0).
	Grace time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Allocator hands out VIPs per mesh: every service and VirtualOutbound host of
// a mesh gets one address from the mesh's range that stays while the name
// exists, survives restarts (StatePath), is never held by two names at once,
// and after the name goes is not given to another name for the grace period.
// The preferred address is a hash of mesh and name, so zones agree without
// talking unless two names collide. Safe for concurrent use.
type Allocator struct {
	mu    sync.Mutex
	cfg   AllocatorConfig
	pools map[poolKey]*pool
	last  compiler.VIPs
	gen   uint64 // bumped whenever the allocation changes
}

type poolKey struct {
	mesh string
	v6   bool
}

// NewAllocator loads the persisted allocation, if any.
func NewAllocator(cfg AllocatorConfig) (*Allocator, error) {
	if len(cfg.DefaultCIDRs) == 0 {
		cfg.DefaultCIDRs = []netip.Prefix{netip.MustParsePrefix(DefaultVIPCIDR)}
	}
	if err := checkFamilies(cfg.DefaultCIDRs); err != nil {
		return nil, fmt.Errorf("vip: default range: %w", err)
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultVIPGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Allocator{cfg: cfg, pools: map[poolKey]*pool{}}
	if cfg.StatePath != "" {
		pools, err := loadState(cfg.StatePath)
		if err != nil {
			return nil, err
		}
		a.pools = pools
	}
	a.last = a.snapshot()
	return a, nil
}

// ParseCIDRs parses a comma-separated list of at most one IPv4 and one IPv6 range
// ("240.0.0.0/4" or "240.0.0.0/4,fd00:6d65:7368::/64").
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("VIP range %q is not a CIDR (like 240.0.0.0/4): %w", part, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("VIP range %q has host bits set; did you mean %s?", part, p.Masked())
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("VIP range %q is empty", s)
	}
	return out, checkFamilies(out)
}

func checkFamilies(ps []netip.Prefix) error {
	var v4, v6 int
	for _, p := range ps {
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 > 1 || v6 > 1 {
		return errors.New("give at most one IPv4 and one IPv6 range")
	}
	return nil
}

// MeshCIDRs returns the VIP ranges of a mesh: its networking.vipCIDR if set,
// else the zone default. A bad vipCIDR is an error naming the mesh.
func (a *Allocator) MeshCIDRs(mesh string, spec *schema.MeshSpec) ([]netip.Prefix, error) {
	if spec == nil || strings.TrimSpace(spec.Networking.VIPCIDR) == "" {
		return a.cfg.DefaultCIDRs, nil
	}
	ps, err := ParseCIDRs(spec.Networking.VIPCIDR)
	if err != nil {
		return nil, fmt.Errorf("mesh %q: networking.vipCIDR: %w", mesh, err)
	}
	return ps, nil
}

// MeshRequest is one mesh's input to Sync.
type MeshRequest struct {
	compiler.MeshServices
	CIDRs []netip.Prefix // nil: the zone default
}

// Sync makes the allocation match the given meshes (the whole zone's view): new
// names get VIPs, names no longer present are freed (held for the grace
// period), meshes absent from the list free all their names. It returns the
// VIPs of every name that has one, and an error per name that could not get one
// (an *ExhaustedError); those names are simply left without a VIP and every
// other VIP is untouched. The result is persisted before it is returned; if
// persisting fails nothing changes and the error says why.
func (a *Allocator) Sync(meshes []MeshRequest) (compiler.VIPs, []error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	if a.unchanged(meshes, now) {
		return a.last, nil
	}
	until := now.Add(a.cfg.Grace)
	next := map[poolKey]*pool{}
	for k, p := range a.pools {
		c := p.clone()
		c.expire(now)
		next[k] = c
	}
	wanted := map[poolKey]map[string]bool{}
	var errs []error
	for _, m := range meshes {
		cidrs := m.CIDRs
		if len(cidrs) == 0 {
			cidrs = a.cfg.DefaultCIDRs
		}
		keys := meshKeys(m.MeshServices)
		for _, cidr := range cidrs {
			k := poolKey{mesh: m.Mesh, v6: cidr.Addr().Is6()}
			p := next[k]
			if p == nil || p.cidr != cidr {
				p = newPool(m.Mesh, cidr) // a new range: VIPs of the old one are dropped
				next[k] = p
			}
			set := map[string]bool{}
			for _, key := range keys {
				set[key] = true
			}
			wanted[k] = set
		}
	}
	for k, p := range next {
		set := wanted[k]
		for key := range p.byKey {
			if !set[key] {
				p.free(key, until)
			}
		}
	}
	var pks []poolKey
	for k := range wanted {
		pks = append(pks, k)
	}
	sort.Slice(pks, func(i, j int) bool {
		if pks[i].mesh != pks[j].mesh {
			return pks[i].mesh < pks[j].mesh
		}
		return !pks[i].v6 && pks[j].v6
	})
	for _, k := range pks {
		p := next[k]
		var keys []string // names without an address yet, in a deterministic order
		for key := range wanted[k] {
			if _, has := p.byKey[key]; !has {
				keys = append(keys, key)
			}
		}
		sort.Strings(keys)
		// names that keep or regain their address first, so a new name never
		// takes an address a returning name is entitled to
		for _, key := range keys {
			if _, ok := p.relByKey[key]; ok {
				_, _ = p.alloc(key)
			}
		}
		for _, key := range keys {
			if _, err := p.alloc(key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for k, p := range next {
		if len(p.byKey) == 0 && len(p.released) == 0 {
			delete(next, k)
		}
	}
	if a.cfg.StatePath != "" && !samePools(a.pools, next) {
		if err := saveState(a.cfg.StatePath, next); err != nil {
			return a.last, append(errs, err)
		}
	}
	a.pools = next
	a.last = a.snapshot()
	a.gen++
	return a.last, errs
}

// Generation changes whenever the allocation does (a cheap "did Sync change anything").
func (a *Allocator) Generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// VIPs returns the current allocation.
func (a *Allocator) VIPs() compiler.VIPs {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func meshKeys(ms compiler.MeshServices) []string {
	keys := make([]string, 0, len(ms.Services)+len(ms.VirtualHosts))
	for _, s := range ms.Services {
		keys = append(keys, "svc:"+s.Name)
	}
	seen := map[string]bool{}
	for _, h := range ms.VirtualHosts {
		if !seen[h.Host] {
			seen[h.Host] = true
			keys = append(keys, "host:"+h.Host)
		}
	}
	return keys
}

func (a *Allocator) snapshot() compiler.VIPs {
	out := compiler.VIPs{}
	for k, p := range a.pools {
		if len(p.byKey) == 0 {
			continue
		}
		mv := out[k.mesh]
		svcs, hosts := map[string]netip.Addr{}, map[string]netip.Addr{}
		for key, addr := range p.byKey {
			switch {
			case strings.HasPrefix(key, "svc:"):
				svcs[key[4:]] = addr
			case strings.HasPrefix(key, "host:"):
				hosts[key[5:]] = addr
			}
		}
		if k.v6 {
			mv.ServicesV6, mv.HostsV6 = svcs, hosts
		} else {
			mv.Services, mv.Hosts = svcs, hosts
		}
		out[k.mesh] = mv
	}
	return out
}

func samePools(a, b map[poolKey]*pool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, p := range a {
		q := b[k]
		if q == nil || p.cidr != q.cidr || len(p.byKey) != len(q.byKey) || len(p.released) != len(q.released) {
			return false
		}
		for key, addr := range p.byKey {
			if q.byKey[key] != addr {
				return false
			}
		}
		for addr, r := range p.released {
			if q.released[addr] != r {
				return false
			}
		}
	}
	return true
}

// Requests pairs each mesh's services with its VIP ranges (Mesh
// networking.vipCIDR, else the zone default). A mesh whose vipCIDR is invalid
// keeps the ranges it has now (or the default), so a bad commit moves no VIP;
// the error names the mesh and the field.
func (a *Allocator) Requests(b *compiler.Bundle, meshes []compiler.MeshServices) ([]MeshRequest, []error) {
	var errs []error
	out := make([]MeshRequest, 0, len(meshes))
	for _, ms := range meshes {
		var spec *schema.MeshSpec
		if b != nil {
			if r := b.Find(schema.Key{Type: schema.TypeMesh, Name: ms.Mesh}); r != nil {
				spec = r.MeshSpec()
			}
		}
		cidrs, err := a.MeshCIDRs(ms.Mesh, spec)
		if err != nil {
			errs = append(errs, &MeshError{Mesh: ms.Mesh, Err: err})
			cidrs = a.currentCIDRs(ms.Mesh)
		}
		out = append(out, MeshRequest{MeshServices: ms, CIDRs: cidrs})
	}
	return out, errs
}

func (a *Allocator) currentCIDRs(mesh string) []netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []netip.Prefix
	for _, v6 := range []bool{false, true} {
		if p := a.pools[poolKey{mesh: mesh, v6: v6}]; p != nil {
			out = append(out, p.cidr)
		}
	}
	if len(out) == 0 {
		return a.cfg.DefaultCIDRs
	}
	return out
}

// unchanged reports whether Sync(meshes) at now would change nothing: the same
// ranges, exactly the same names, no name short of a VIP, no grace period ended.
// It lets the zone call Sync on every change at the cost of map lookups.
func (a *Allocator) unchanged(meshes []MeshRequest, now time.Time) bool {
	seen := 0
	for _, m := range meshes {
		cidrs := m.CIDRs
		if len(cidrs) == 0 {
			cidrs = a.cfg.DefaultCIDRs
		}
		keys := meshKeys(m.MeshServices)
		for _, cidr := range cidrs {
			p := a.pools[poolKey{mesh: m.Mesh, v6: cidr.Addr().Is6()}]
			if len(keys) == 0 && (p == nil || len(p.byKey) == 0) {
				continue // a mesh without services holds nothing
			}
			if p == nil || p.cidr != cidr || len(p.byKey) != len(keys) {
				return false
			}
			for _, k := range keys {
				if _, ok := p.byKey[k]; !ok {
					return false
				}
			}
			seen++
		}
	}
	for _, p := range a.pools {
		for _, r := range p.released {
			if !now.Before(r.Until) {
				return false
			}
		}
		if len(p.byKey) > 0 {
			seen--
		}
	}
	return seen == 0
}
