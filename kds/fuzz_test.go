package kds

import (
	"testing"

	"google.golang.org/protobuf/proto"

	kdsv1 "github.com/meshc/meshc/kds/v1"
)

// FuzzZoneReceivesUpdate feeds arbitrary bytes to a zone as an Update from
// the global: it must never panic, and a rejected update leaves the state as
// it was.
func FuzzZoneReceivesUpdate(f *testing.F) {
	base, _ := bundleState(bundleOf([]string{"p1", "p2"}))
	full := &kdsv1.Update{Nonce: "1", Full: true, StateHash: base.Hash()}
	for _, k := range base.Sorted() {
		full.Upserts = append(full.Upserts, base[k].Res)
	}
	seed, _ := proto.Marshal(full)
	f.Add(seed)
	f.Add([]byte{0x12, 0x03, 'a', 'b', 'c'})
	rm, _ := proto.Marshal(&kdsv1.Update{Nonce: "2", Removals: []*kdsv1.Key{{Kind: "Mesh", Name: "default"}}})
	f.Add(rm)
	f.Fuzz(func(t *testing.T, data []byte) {
		var u kdsv1.Update
		if proto.Unmarshal(data, &u) != nil {
			return
		}
		r := &receiver{state: base}
		before := base.Hash()
		var cache decodeCache
		ack := r.handle(&u, func(next State, m meta) error {
			_, c, err := decodeGlobalState(next, m, cache)
			cache = c
			return err
		})
		if ack.Error != "" && r.state.Hash() != before {
			t.Fatalf("a rejected update changed the state: %s", ack.Error)
		}
		if ack.Error == "" && ack.StateHash != r.state.Hash() {
			t.Fatal("ACK names a state hash the receiver does not have")
		}
	})
}
