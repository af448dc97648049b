package kds

import (
	"strings"
	"testing"

	kdsv1 "github.com/meshc/meshc/kds/v1"
)

func res(kind, name, body string) *kdsv1.Resource {
	return &kdsv1.Resource{Kind: kind, Mesh: "m", Name: name, Body: []byte(body)}
}

func stateOf(rs ...*kdsv1.Resource) State {
	st := State{}
	for _, r := range rs {
		st.Put(r)
	}
	return st
}

func accept(State, meta) error { return nil }

// Updates carry only changes, removals included; a receiver whose state
// diverged NACKs the diff and gets a full update at once; a NACKed full update
// is not re-sent until the state changes.
func TestSenderReceiverIncrementalAndDivergence(t *testing.T) {
	s, r := newSender("t"), &receiver{}
	s.want(stateOf(res("A", "a", "1"), res("A", "b", "1"), res("A", "c", "1")), meta{BundleVersion: "v1"})
	u := s.next()
	if !u.Full || len(u.Upserts) != 3 {
		t.Fatalf("first update: full=%v upserts=%d", u.Full, len(u.Upserts))
	}
	if s.next() != nil {
		t.Fatal("a second update while one is in flight")
	}
	if _, err := s.handleAck(r.handle(u, accept)); err != nil {
		t.Fatal(err)
	}
	s.want(stateOf(res("A", "a", "2"), res("A", "b", "1")), meta{BundleVersion: "v2"})
	u = s.next()
	if u.Full || len(u.Upserts) != 1 || u.Upserts[0].Name != "a" || len(u.Removals) != 1 || u.Removals[0].Name != "c" {
		t.Fatalf("diff update = %v", u)
	}
	s.handleAck(r.handle(u, accept))
	if r.state.Hash() != s.desiredHash || r.meta.BundleVersion != "v2" {
		t.Fatal("receiver did not converge")
	}
	if s.next() != nil {
		t.Fatal("an update with nothing changed")
	}

	// The receiver loses a resource behind the sender's back.
	r.state = stateOf(res("A", "a", "2"))
	s.want(stateOf(res("A", "a", "3"), res("A", "b", "1")), meta{BundleVersion: "v3"})
	u = s.next()
	ack := r.handle(u, accept)
	if ack.Error == "" || !strings.Contains(ack.Error, "state diverged") {
		t.Fatalf("diverged receiver accepted a diff: %+v", ack)
	}
	res1, _ := s.handleAck(ack)
	if res1.NACK == "" {
		t.Fatal("NACK not reported")
	}
	u = s.next()
	if u == nil || !u.Full {
		t.Fatalf("after divergence the sender must send everything at once, got %v", u)
	}
	s.handleAck(r.handle(u, accept))
	if r.state.Hash() != s.desiredHash {
		t.Fatal("full update did not repair the receiver")
	}

	// A full update the receiver rejects is not re-sent until something changes.
	r2, s2 := &receiver{}, newSender("u")
	s2.want(stateOf(res("A", "bad", "x")), meta{BundleVersion: "v1"})
	u = s2.next()
	s2.handleAck(r2.handle(u, func(State, meta) error { return errTest("bad resource") }))
	if s2.next() != nil {
		t.Fatal("a rejected full update was re-sent unchanged")
	}
	s2.want(stateOf(res("A", "good", "y")), meta{BundleVersion: "v2"})
	if u = s2.next(); u == nil || !u.Full {
		t.Fatal("after a rejected first update the next one must be full")
	}
	if ack := r2.handle(u, accept); ack.Error != "" {
		t.Fatal(ack.Error)
	}
}
