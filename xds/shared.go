package xds

import (
	"sync"
	"weak"
)

// shared keeps one instance of each generated proto per content key, so
// proxies with identical clusters, endpoints, routes or listeners hold the same
// object instead of a copy each. Entries are weak: a proto no snapshot holds
// any more is collected, and its key is dropped at the next sweep.
type shared[T any] struct {
	mu      sync.Mutex
	m       map[string]weak.Pointer[T]
	lastLen int
}

// get returns the instance for key, building it with mk when there is none.
func (s *shared[T]) get(key string, mk func() (*T, error)) (*T, error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]weak.Pointer[T]{}
	}
	if wp, ok := s.m[key]; ok {
		if v := wp.Value(); v != nil {
			s.mu.Unlock()
			return v, nil
		}
	}
	s.mu.Unlock()
	v, err := mk()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if wp, ok := s.m[key]; ok {
		if old := wp.Value(); old != nil {
			return old, nil
		}
	}
	s.m[key] = weak.Make(v)
	if len(s.m) > 2*s.lastLen+1024 {
		for k, wp := range s.m {
			if wp.Value() == nil {
				delete(s.m, k)
			}
		}
		s.lastLen = len(s.m)
	}
	return v, nil
}

// size is the number of live entries (for tests and metrics).
func (s *shared[T]) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, wp := range s.m {
		if wp.Value() != nil {
			n++
		}
	}
	return n
}
