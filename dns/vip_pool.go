package dns

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"time"
)

// pool hands out the addresses of one mesh's range of one IP family.
// Keys are "svc:<service>" or "host:<VirtualOutbound host>".
type pool struct {
	mesh     string
	cidr     netip.Prefix
	byKey    map[string]netip.Addr
	byAddr   map[netip.Addr]string
	released map[netip.Addr]release // freed, not reusable by another key until Until
	relByKey map[string]netip.Addr
}

type release struct {
	Key   string
	Until time.Time
}

func newPool(mesh string, cidr netip.Prefix) *pool {
	return &pool{
		mesh: mesh, cidr: cidr,
		byKey: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{},
		released: map[netip.Addr]release{}, relByKey: map[string]netip.Addr{},
	}
}

func (p *pool) clone() *pool {
	return &pool{
		mesh: p.mesh, cidr: p.cidr,
		byKey: maps.Clone(p.byKey), byAddr: maps.Clone(p.byAddr),
		released: maps.Clone(p.released), relByKey: maps.Clone(p.relByKey),
	}
}

// hostRange returns the first usable offset and how many offsets there are.
// IPv4 ranges of /30 or wider skip the network and broadcast addresses; IPv6
// ranges skip the subnet-router anycast address (offset 0). At most 2^62
// offsets are used, counted from the start of the range.
func hostRange(cidr netip.Prefix) (first, n uint64) {
	hostBits := cidr.Addr().BitLen() - cidr.Bits()
	if hostBits > 62 {
		hostBits = 62
	}
	size := uint64(1) << hostBits
	switch {
	case cidr.Addr().Is4() && hostBits >= 2:
		return 1, size - 2
	case cidr.Addr().Is6() && hostBits >= 1:
		return 1, size - 1
	}
	return 0, size
}

// addrAt returns the address at offset off from the start of the range.
func addrAt(cidr netip.Prefix, off uint64) netip.Addr {
	base := cidr.Masked().Addr()
	if base.Is4() {
		b := base.As4()
		v := binary.BigEndian.Uint32(b[:]) + uint32(off)
		binary.BigEndian.PutUint32(b[:], v)
		return netip.AddrFrom4(b)
	}
	b := base.As16()
	v := binary.BigEndian.Uint64(b[8:]) + off
	binary.BigEndian.PutUint64(b[8:], v)
	return netip.AddrFrom16(b)
}

// preferred is where probing for key starts: a hash of mesh and key, so zones
// with the same services pick the same VIPs without talking.
func preferred(mesh, key string, n uint64) uint64 {
	h := sha256.Sum256([]byte(mesh + "\x00" + key))
	return binary.BigEndian.Uint64(h[:8]) % n
}

// ExhaustedError says a mesh's range has no address left for a new name.
type ExhaustedError struct {
	Mesh, Key string
	CIDR      netip.Prefix
	InUse     int
	Held      int // freed addresses still in their grace period
}

// MeshName is the mesh the error is about.
func (e *ExhaustedError) MeshName() string { return e.Mesh }

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("vip: mesh %q: no free VIP in %s for %s (%d in use, %d held for the grace period after removal); "+
		"widen the range with Mesh.networking.vipCIDR or --dns-vip-cidr", e.Mesh, e.CIDR, describeKey(e.Key), e.InUse, e.Held)
}

func describeKey(key string) string {
	switch {
	case len(key) > 4 && key[:4] == "svc:":
		return fmt.Sprintf("service %q", key[4:])
	case len(key) > 5 && key[:5] == "host:":
		return fmt.Sprintf("VirtualOutbound host %q", key[5:])
	}
	return key
}

// expire forgets released addresses whose grace period ended.
func (p *pool) expire(now time.Time) {
	for a, r := range p.released {
		if !now.Before(r.Until) {
			delete(p.released, a)
			delete(p.relByKey, r.Key)
		}
	}
}

// free releases key's address for the grace period.
func (p *pool) free(key string, until time.Time) {
	a, ok := p.byKey[key]
	if !ok {
		return
	}
	delete(p.byKey, key)
	delete(p.byAddr, a)
	if old, ok := p.relByKey[key]; ok {
		delete(p.released, old)
	}
	p.released[a] = release{Key: key, Until: until}
	p.relByKey[key] = a
}

// alloc gives key an address: the one it had when it was freed (if still
// held), else the first free one probing linearly from its hash.
func (p *pool) alloc(key string) (netip.Addr, error) {
	if a, ok := p.byKey[key]; ok {
		return a, nil
	}
	if a, ok := p.relByKey[key]; ok {
		delete(p.relByKey, key)
		delete(p.released, a)
		p.byKey[key], p.byAddr[a] = a, key
		return a, nil
	}
	first, n := hostRange(p.cidr)
	if uint64(len(p.byAddr)+len(p.released)) >= n {
		return netip.Addr{}, &ExhaustedError{Mesh: p.mesh, Key: key, CIDR: p.cidr, InUse: len(p.byAddr), Held: len(p.released)}
	}
	start := preferred(p.mesh, key, n)
	for i := uint64(0); i < n; i++ {
		a := addrAt(p.cidr, first+(start+i)%n)
		if _, used := p.byAddr[a]; used {
			continue
		}
		if _, held := p.released[a]; held {
			continue
		}
		p.byKey[key], p.byAddr[a] = a, key
		return a, nil
	}
	return netip.Addr{}, &ExhaustedError{Mesh: p.mesh, Key: key, CIDR: p.cidr, InUse: len(p.byAddr), Held: len(p.released)}
}

// MeshError is a problem with one mesh's VIP settings (e.g. a bad vipCIDR).
type MeshError struct {
	Mesh string
	Err  error
}

func (e *MeshError) Error() string { return e.Err.Error() }
func (e *MeshError) Unwrap() error { return e.Err }

// MeshName is the mesh the error is about.
func (e *MeshError) MeshName() string { return e.Mesh }
