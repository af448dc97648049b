package reconciler

import (
	"context"
	"errors"

	"github.com/meshc/meshc/schema"
)

// Source is where the global's mesh definitions come from: a Git remote or a
// local directory. Fetch is only ever called from the reconciler's loop, one
// call at a time.
type Source interface {
	// Fetch brings the source up to date and returns what it holds now.
	Fetch(ctx context.Context) (*Snapshot, error)
	// String describes the source for logs and status (no credentials).
	String() string
}

// Watcher is a Source that notices its own changes (a directory watched with
// fsnotify). StartWatch establishes the watch before it returns (so no change
// made after the first Fetch is missed), then calls changed after every
// (debounced) change until ctx is done; the channel then yields the watch's
// end (nil, or why it stopped early) and is closed.
type Watcher interface {
	StartWatch(ctx context.Context, changed func()) (<-chan error, error)
}

// Snapshot is one revision of a source.
type Snapshot struct {
	// Revision identifies what was fetched: the commit hash for Git, "" for a
	// directory (whose revision is the bundle's content version).
	Revision string
	// Describe is the revision for humans, e.g. "main@sha1:0a1b2c3d".
	Describe string
	// Load reads and validates the resources of this revision.
	Load func() ([]schema.Resource, schema.Errors)
}

// FetchError is a failure to fetch, with a reason for status and metrics.
type FetchError struct {
	Reason string // ReasonFetchFailed, ReasonRefNotFound, ReasonPathNotFound
	Err    error
}

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

func fetchReason(err error) string {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ReasonFetchFailed
}
