package kds

import (
	"fmt"
	"strconv"

	kdsv1 "github.com/meshc/meshc/kds/v1"
)

// meta is what an Update says besides resources: the bundle it belongs to.
type meta struct {
	BundleVersion string `json:"bundleVersion,omitempty"`
	BundleCommit  string `json:"bundleCommit,omitempty"`
}

type inflight struct {
	nonce string
	full  bool
	state State
	hash  string
	meta  meta
}

// sender turns a desired State into Updates for one stream direction: the
// first is full, later ones carry only the difference from what the peer
// acknowledged. One Update is in flight at a time; an Update the peer NACKed
// is not sent again until the desired state changes.
type sender struct {
	prefix      string // nonce prefix, names the direction in logs
	seq         uint64
	acked       State // nil: the peer's state is unknown → next Update is full
	ackedHash   string
	ackedMeta   meta
	desired     State
	desiredHash string
	desiredMeta meta
	rejected    string // hash+version of the last NACKed desired state
	flight      *inflight
}

func newSender(prefix string) *sender { return &sender{prefix: prefix} }

// want sets the state the peer should have.
func (s *sender) want(st State, m meta) {
	s.desired, s.desiredHash, s.desiredMeta = st, st.Hash(), m
}

// next returns the Update to send now, or nil.
func (s *sender) next() *kdsv1.Update {
	if s.flight != nil || s.desired == nil {
		return nil
	}
	if s.acked != nil && s.desiredHash == s.ackedHash && s.desiredMeta == s.ackedMeta {
		return nil
	}
	if s.desiredHash+"|"+s.desiredMeta.BundleVersion == s.rejected {
		return nil
	}
	s.seq++
	u := &kdsv1.Update{
		Nonce:         s.prefix + strconv.FormatUint(s.seq, 10),
		StateHash:     s.desiredHash,
		BundleVersion: s.desiredMeta.BundleVersion,
		BundleCommit:  s.desiredMeta.BundleCommit,
	}
	if s.acked == nil {
		u.Full = true
		for _, k := range s.desired.Sorted() {
			u.Upserts = append(u.Upserts, s.desired[k].Res)
		}
	} else {
		u.Upserts, u.Removals = Diff(s.acked, s.desired)
	}
	s.flight = &inflight{nonce: u.Nonce, full: u.Full, state: s.desired, hash: s.desiredHash, meta: s.desiredMeta}
	return u
}

// ackResult says what an Ack did.
type ackResult struct {
	Meta   meta   // the bundle of the acknowledged Update
	NACK   string // non-empty: the peer rejected the Update, with this reason
	Digest string // hash of the rejected or accepted state
}

// handleAck records the peer's answer to the Update in flight.
func (s *sender) handleAck(a *kdsv1.Ack) (ackResult, error) {
	if s.flight == nil || a.Nonce != s.flight.nonce {
		return ackResult{}, fmt.Errorf("ack for nonce %q, but the update in flight is %s", a.Nonce, s.describeFlight())
	}
	f := s.flight
	s.flight = nil
	if a.Error == "" {
		s.acked, s.ackedHash, s.ackedMeta = f.state, f.hash, f.meta
		s.rejected = ""
		if a.StateHash != "" && a.StateHash != f.hash { // cannot happen with a correct peer
			s.acked = nil
		}
		return ackResult{Meta: f.meta, Digest: f.hash}, nil
	}
	if !f.full && a.StateHash != s.ackedHash {
		// The peer's state is not what we think (it diverged): send it all
		// at once rather than wait for a change.
		s.acked = nil
		return ackResult{Meta: f.meta, NACK: a.Error, Digest: f.hash}, nil
	}
	s.rejected = f.hash + "|" + f.meta.BundleVersion
	if s.acked == nil || a.StateHash != s.ackedHash {
		s.acked = nil // send it all when the state changes
	}
	return ackResult{Meta: f.meta, NACK: a.Error, Digest: f.hash}, nil
}

func (s *sender) describeFlight() string {
	if s.flight == nil {
		return "none"
	}
	return strconv.Quote(s.flight.nonce)
}

// receiver holds what one side received from the other and applies Updates
// all-or-nothing.
type receiver struct {
	state State
	meta  meta
}

// handle applies u: the shape is checked, then accept is called with the
// would-be state; only if it returns nil does the state change. The Ack to
// send back is returned.
func (r *receiver) handle(u *kdsv1.Update, accept func(next State, m meta) error) *kdsv1.Ack {
	cur := r.state
	if cur == nil {
		cur = State{}
	}
	next, err := cur.Apply(u)
	if err == nil {
		err = accept(next, meta{BundleVersion: u.BundleVersion, BundleCommit: u.BundleCommit})
	}
	if err != nil {
		return &kdsv1.Ack{Nonce: u.Nonce, Error: err.Error(), StateHash: cur.Hash()}
	}
	r.state, r.meta = next, meta{BundleVersion: u.BundleVersion, BundleCommit: u.BundleCommit}
	return &kdsv1.Ack{Nonce: u.Nonce, StateHash: next.Hash()}
}
