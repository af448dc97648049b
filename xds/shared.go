package xds

import (
	"sync"
	"weak"

	"google.golang.org/protobuf/proto"
)

// shared keeps one instance of each generated proto per content key, so
// proxies with identical clusters, endpoints, routes or listeners hold the same
// object instead of a copy each. Entries are weak: a proto no snapshot holds
// any more is collected, and its key is dropped at the next sweep.
type shared[T any] struct {
	mu      sync.Mutex
	m       map[string]sharedEntry[T]
	lastLen int
}

type sharedEntry[T any] struct {
	wp   weak.Pointer[T]
	hash string // content hash of the proto (deterministic encoding)
}

// get returns the instance for key and its content hash, building it with mk
// when there is none. The content hash (not the key) versions resources, so
// equal content means equal versions whatever key built it.
func (s *shared[T]) get(key string, mk func() (*T, error)) (*T, string, error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]sharedEntry[T]{}
	}
	if e, ok := s.m[key]; ok {
		if v := e.wp.Value(); v != nil {
			s.mu.Unlock()
			return v, e.hash, nil
		}
	}
	s.mu.Unlock()
	v, err := mk()
	if err != nil {
		return nil, "", err
	}
	h := hashProto(any(v).(proto.Message))
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		if old := e.wp.Value(); old != nil {
			return old, e.hash, nil
		}
	}
	s.m[key] = sharedEntry[T]{wp: weak.Make(v), hash: h}
	if len(s.m) > 2*s.lastLen+1024 {
		for k, e := range s.m {
			if e.wp.Value() == nil {
				delete(s.m, k)
			}
		}
		s.lastLen = len(s.m)
	}
	return v, h, nil
}

// size is the number of live entries (for tests and metrics).
func (s *shared[T]) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.m {
		if e.wp.Value() != nil {
			n++
		}
	}
	return n
}
