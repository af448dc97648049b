// Package kds is the protocol between the meshc global control plane and its
// zones (DESIGN.md §1, §4): the gRPC service of kds/v1, the global's server
// (bundle, mesh CAs and other zones' ingresses out; zone inventory in; zone
// lifecycle and its HTTP API) and the zone's client (reconnects with backoff,
// persists the last-known-good global state).
//
// Both directions use the same machinery: a State (every resource one side
// holds from the other, keyed, with a body hash), a sender that diffs the state
// it wants the peer to have against what the peer acknowledged and keeps one
// Update in flight, and a receiver that applies an Update atomically (all or
// nothing) and answers with an ACK or a NACK carrying the reason.
package kds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	kdsv1 "github.com/meshc/meshc/kds/v1"
)

// KDS-only resource kinds (every other kind is a schema resource type).
const (
	KindMeshCA      = "MeshCA"
	KindZoneInsight = "ZoneInsight"
)

// Key identifies a resource on the wire.
type Key struct {
	Kind, Mesh, Name, Zone string
}

func (k Key) String() string {
	s := k.Kind
	if k.Zone != "" {
		s += "@" + k.Zone
	}
	if k.Mesh != "" {
		s += "/" + k.Mesh
	}
	return s + "/" + k.Name
}

func (k Key) less(o Key) bool {
	if k.Kind != o.Kind {
		return k.Kind < o.Kind
	}
	if k.Zone != o.Zone {
		return k.Zone < o.Zone
	}
	if k.Mesh != o.Mesh {
		return k.Mesh < o.Mesh
	}
	return k.Name < o.Name
}

func keyOf(r *kdsv1.Resource) Key { return Key{r.Kind, r.Mesh, r.Name, r.Zone} }

func keyFromPB(k *kdsv1.Key) Key { return Key{k.Kind, k.Mesh, k.Name, k.Zone} }

func (k Key) pb() *kdsv1.Key {
	return &kdsv1.Key{Kind: k.Kind, Mesh: k.Mesh, Name: k.Name, Zone: k.Zone}
}

// Entry is one resource with the hash of its body and a digest of key and
// body (what State.Hash combines).
type Entry struct {
	Res    *kdsv1.Resource
	Hash   string
	digest [32]byte
}

// NewEntry wraps r, hashing its body.
func NewEntry(r *kdsv1.Resource) Entry {
	h := sha256.Sum256(r.Body)
	e := Entry{Res: r, Hash: hex.EncodeToString(h[:16])}
	d := sha256.New()
	fmt.Fprintf(d, "%s\x00%s\x00%s\x00%s\x00%s", r.Kind, r.Zone, r.Mesh, r.Name, e.Hash)
	d.Sum(e.digest[:0])
	return e
}

// State is the set of resources one side holds from the other.
// A State is never modified after it is shared: Apply returns a new one.
type State map[Key]Entry

// Put adds r (replacing a resource with the same key).
func (s State) Put(r *kdsv1.Resource) { s[keyOf(r)] = NewEntry(r) }

// Sorted returns the keys in a fixed order.
func (s State) Sorted() []Key {
	keys := make([]Key, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	return keys
}

// Hash is the content hash of the whole state (same resources → same hash):
// the XOR of every entry's digest of key and body, so it needs no sorting.
// It detects divergence between peers; it is not a security boundary.
func (s State) Hash() string {
	var acc [32]byte
	for _, e := range s {
		for i := range acc {
			acc[i] ^= e.digest[i]
		}
	}
	return hex.EncodeToString(acc[:16])
}

// Clone returns a shallow copy.
func (s State) Clone() State {
	out := make(State, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// Diff returns what turns from into to: resources added or changed, and keys removed.
// Both lists are sorted by key.
func Diff(from, to State) (upserts []*kdsv1.Resource, removals []*kdsv1.Key) {
	var up, rm []Key
	for k, e := range to {
		if old, ok := from[k]; !ok || old.Hash != e.Hash {
			up = append(up, k)
		}
	}
	for k := range from {
		if _, ok := to[k]; !ok {
			rm = append(rm, k)
		}
	}
	sort.Slice(up, func(i, j int) bool { return up[i].less(up[j]) })
	sort.Slice(rm, func(i, j int) bool { return rm[i].less(rm[j]) })
	for _, k := range up {
		upserts = append(upserts, to[k].Res)
	}
	for _, k := range rm {
		removals = append(removals, k.pb())
	}
	return upserts, removals
}

// Apply returns the state after update u, checking the update's shape: every
// resource has a kind and a name, no key appears twice, removals name held
// resources, and the result hashes to u.StateHash. s is not modified.
func (s State) Apply(u *kdsv1.Update) (State, error) {
	var next State
	if u.Full {
		next = make(State, len(u.Upserts))
	} else {
		next = s.Clone()
	}
	seen := make(map[Key]bool, len(u.Upserts))
	for i, r := range u.Upserts {
		if r == nil || r.Kind == "" || r.Name == "" {
			return nil, fmt.Errorf("upserts[%d]: a resource needs a kind and a name", i)
		}
		k := keyOf(r)
		if seen[k] {
			return nil, fmt.Errorf("upserts[%d]: %s appears twice in one update", i, k)
		}
		seen[k] = true
		next.Put(r)
	}
	for i, pk := range u.Removals {
		k := keyFromPB(pk)
		if seen[k] {
			return nil, fmt.Errorf("removals[%d]: %s is both upserted and removed", i, k)
		}
		if _, ok := next[k]; !ok {
			return nil, fmt.Errorf("removals[%d]: %s is not held here (state diverged)", i, k)
		}
		delete(next, k)
	}
	if got := next.Hash(); u.StateHash != "" && got != u.StateHash {
		return nil, fmt.Errorf("state diverged: after this update the receiver's state hashes to %s, the sender's to %s", got, u.StateHash)
	}
	return next, nil
}
