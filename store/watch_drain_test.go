package store

import "testing"

// A signal whose keys an earlier Drain took is stale: Drain after it returns
// nothing at once instead of blocking the consumer until the next change.
func TestWatcherDrainAfterStaleSignal(t *testing.T) {
	r := New("zone-a")
	w := r.Watch()
	defer w.Close()
	for _, n := range []string{"a", "b"} {
		if _, err := r.Put(dataplane("default", n, "svc")); err != nil {
			t.Fatal(err)
		}
	}
	if keys := w.Drain(); len(keys) != 2 {
		t.Fatalf("first drain: %v", keys)
	}
	<-w.C() // the signal of the second Put, already consumed by the drain above
	if keys := w.Drain(); keys != nil {
		t.Fatalf("stale signal: %v", keys)
	}
}
