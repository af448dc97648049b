package kds

import (
	"context"
	"sync"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// StaticBundles is a BundleSource over bundles set with Set (tests, demos,
// and a bridge until a reconciler publishes).
type StaticBundles struct {
	mu   sync.Mutex
	cur  *compiler.Bundle
	subs map[chan *compiler.Bundle]struct{}
}

// Set publishes b to every watcher.
func (s *StaticBundles) Set(b *compiler.Bundle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = b
	for ch := range s.subs {
		select {
		case <-ch: // drop a stale one: only the newest matters
		default:
		}
		ch <- b
	}
}

// Current implements BundleSource.
func (s *StaticBundles) Current() *compiler.Bundle {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Subscribe implements BundleSource.
func (s *StaticBundles) Subscribe(ctx context.Context) <-chan *compiler.Bundle {
	ch := make(chan *compiler.Bundle, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan *compiler.Bundle]struct{}{}
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	out := make(chan *compiler.Bundle)
	go func() {
		defer close(out)
		defer func() { s.mu.Lock(); delete(s.subs, ch); s.mu.Unlock() }()
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-ch:
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// MemorySource is a Source over resources set with Set.
type MemorySource struct {
	mu      sync.Mutex
	rs      []schema.Resource
	changed chan struct{}
}

// NewMemorySource returns a source holding rs.
func NewMemorySource(rs ...schema.Resource) *MemorySource {
	return &MemorySource{rs: rs, changed: make(chan struct{}, 1)}
}

// Set replaces the resources and signals the change.
func (m *MemorySource) Set(rs ...schema.Resource) {
	m.mu.Lock()
	m.rs = rs
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// Local implements Source.
func (m *MemorySource) Local() []schema.Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]schema.Resource(nil), m.rs...)
}

// Changed implements Source.
func (m *MemorySource) Changed() <-chan struct{} { return m.changed }

// MemorySink is a Sink that keeps the last applied state and can reject
// updates (Reject). Updated is signalled after every successful Apply.
type MemorySink struct {
	mu      sync.Mutex
	last    GlobalState
	n       int
	reject  func(GlobalState) error
	Updated chan struct{}
}

// NewMemorySink returns an empty sink.
func NewMemorySink() *MemorySink { return &MemorySink{Updated: make(chan struct{}, 1)} }

// Apply implements Sink.
func (m *MemorySink) Apply(s GlobalState) error {
	m.mu.Lock()
	if m.reject != nil {
		if err := m.reject(s); err != nil {
			m.mu.Unlock()
			return err
		}
	}
	m.last = s
	m.n++
	m.mu.Unlock()
	select {
	case m.Updated <- struct{}{}:
	default:
	}
	return nil
}

// Reject makes Apply fail with f's error (nil f accepts everything).
func (m *MemorySink) Reject(f func(GlobalState) error) {
	m.mu.Lock()
	m.reject = f
	m.mu.Unlock()
}

// Last returns the last applied state and how many applies happened.
func (m *MemorySink) Last() (GlobalState, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.n
}
