package store

import (
	"context"
	"sort"

	"github.com/meshc/meshc/schema"
)

// Watcher collects the keys changed since its last Next. Changes coalesce: a
// slow consumer sees each changed key once, never a backlog.
type Watcher struct {
	r       *Registry
	signal  chan struct{}
	pending map[schema.Key]struct{} // guarded by r.mu
}

// Watch returns a watcher of every change from now on. Close it when done.
func (r *Registry) Watch() *Watcher {
	w := &Watcher{r: r, signal: make(chan struct{}, 1), pending: map[schema.Key]struct{}{}}
	r.mu.Lock()
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	return w
}

// Next blocks until at least one key changed (or ctx is done) and returns the
// changed keys, sorted.
func (w *Watcher) Next(ctx context.Context) ([]schema.Key, error) {
	for {
		w.r.mu.Lock()
		if len(w.pending) > 0 {
			keys := make([]schema.Key, 0, len(w.pending))
			for k := range w.pending {
				keys = append(keys, k)
			}
			w.pending = map[schema.Key]struct{}{}
			w.r.mu.Unlock()
			sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
			return keys, nil
		}
		w.r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.signal:
		}
	}
}

// Drain returns the changed keys pending now, sorted, without blocking (nil
// when none). Use it after a receive from C: a signal may be stale, its keys
// already taken by an earlier Drain or Next, and Next would then block until
// the next change.
func (w *Watcher) Drain() []schema.Key {
	w.r.mu.Lock()
	if len(w.pending) == 0 {
		w.r.mu.Unlock()
		return nil
	}
	keys := make([]schema.Key, 0, len(w.pending))
	for k := range w.pending {
		keys = append(keys, k)
	}
	w.pending = map[schema.Key]struct{}{}
	w.r.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	return keys
}

// C is signalled (coalesced) when keys are pending; use it in a select, then call Drain.
func (w *Watcher) C() <-chan struct{} { return w.signal }

// Close stops the watcher.
func (w *Watcher) Close() {
	w.r.mu.Lock()
	delete(w.r.watchers, w)
	w.r.mu.Unlock()
}

func (r *Registry) notifyLocked(k schema.Key) {
	for w := range r.watchers {
		w.pending[k] = struct{}{}
		select {
		case w.signal <- struct{}{}:
		default:
		}
	}
}
