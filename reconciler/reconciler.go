// Package reconciler drives the global control plane's source side: it
// fetches mesh definitions from a Git remote (go-git, polled and woken by a
// webhook) or a local directory (fsnotify), loads and compiles each new
// revision, and publishes the result as the current bundle. An invalid
// revision changes nothing that is served: it is recorded, with its errors
// and their positions, in a Flux-style status (GET /bundle), the log and
// Prometheus metrics. The last good bundle is persisted in the state dir and
// served at start, before the first fetch succeeds.
//
// Consumers (the KDS server) read the bundle with Current and follow it with
// Subscribe.
package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// Options configures a Reconciler.
type Options struct {
	Source Source
	// Poll is the interval between fetches (0: only on Trigger, the webhook or
	// the source's own watch).
	Poll time.Duration
	// StateDir persists the last good bundle ("" : nothing persisted).
	StateDir string
	Log      *slog.Logger
	// Registry receives the metrics (usually the api.Server's); nil: none.
	Registry prometheus.Registerer
	// MinBackoff and MaxBackoff bound the exponential retry delay after a
	// failed fetch (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
}

// Reconciler is the global loop: source → load → compile → publish.
type Reconciler struct {
	opts    Options
	log     *slog.Logger
	m       *metrics
	trigger chan struct{}

	mu        sync.Mutex
	current   *compiler.Bundle
	appliedAt time.Time
	restored  bool
	last      *Attempt
	conds     conditions
	fetch     FetchStatus
	subs      map[chan *compiler.Bundle]func() bool
	stopped   bool
}

// New makes a reconciler and restores the bundle persisted in opts.StateDir,
// which Current serves at once. A state file that cannot be read is logged
// and ignored: the first good fetch replaces it.
func New(opts Options) (*Reconciler, error) {
	if opts.Source == nil {
		return nil, fmt.Errorf("reconciler: no source")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = 5 * time.Minute
	}
	now := time.Now()
	r := &Reconciler{
		opts:    opts,
		log:     opts.Log.With("source", opts.Source.String()),
		m:       newMetrics(opts.Registry),
		trigger: make(chan struct{}, 1),
		conds:   newConditions(now),
		subs:    map[chan *compiler.Bundle]func() bool{},
	}
	st, err := loadState(opts.StateDir)
	if err != nil {
		r.log.Error("persisted bundle not restored", "err", err)
	}
	if st != nil {
		r.current, r.appliedAt, r.restored = st.Bundle, st.AppliedAt, true
		r.m.lastApplied.Set(float64(st.AppliedAt.Unix()))
		r.m.serving(st.Bundle.Version, st.Bundle.Commit)
		r.conds.set(CondReady, false, ReasonRestored,
			fmt.Sprintf("serving persisted version %s (commit %s) until the first fetch succeeds", st.Bundle.Version, short(st.Bundle.Commit)), now)
		r.log.Info("restored persisted bundle", "version", st.Bundle.Version, "commit", st.Bundle.Commit, "appliedAt", st.AppliedAt)
	}
	return r, nil
}

// Current returns the bundle in force (nil before any). It is shared: treat
// it as read-only.
func (r *Reconciler) Current() *compiler.Bundle {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// Subscribe returns a channel that receives the current bundle (if any) at
// once and then every newly applied bundle. It holds at most one pending
// bundle: a slow reader skips to the newest, never to a stale one. The
// channel is closed when ctx is done or the reconciler's Run returns.
// Bundles are shared: treat them as read-only.
func (r *Reconciler) Subscribe(ctx context.Context) <-chan *compiler.Bundle {
	ch := make(chan *compiler.Bundle, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		close(ch)
		return ch
	}
	if r.current != nil {
		ch <- r.current
	}
	r.subs[ch] = context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
	})
	return ch
}

// Trigger asks for a fetch now (the webhook calls it). Triggers that arrive
// while one is pending coalesce.
func (r *Reconciler) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Status returns a copy of the status.
func (r *Reconciler) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{
		Source:     r.opts.Source.String(),
		Restored:   r.restored,
		Errors:     []schema.Error{},
		Conditions: r.conds.list(),
		Fetch:      r.fetch,
	}
	if b := r.current; b != nil {
		at := r.appliedAt
		st.Version, st.Commit, st.AppliedAt, st.Resources = b.Version, b.Commit, &at, len(b.Resources)
	}
	if r.last != nil {
		a := *r.last
		st.LastAttempt = &a
		if a.Result == ResultInvalid {
			st.Errors = errorsOnly(a.Diagnostics)
		}
	}
	return st
}

// Run fetches at once, then on every poll tick, trigger and source change,
// until ctx is done. Failed fetches are retried with exponential backoff.
// When Run returns, subscriptions are closed.
func (r *Reconciler) Run(ctx context.Context) error {
	defer r.stop()
	if w, ok := r.opts.Source.(Watcher); ok {
		done, err := w.StartWatch(ctx, r.Trigger)
		if err != nil {
			return fmt.Errorf("reconciler: %w", err)
		}
		defer func() {
			if err := <-done; err != nil {
				r.log.Error("watch stopped early; changes were seen only on poll or webhook", "err", err)
			}
		}()
	}
	r.log.Info("reconciler started", "poll", r.opts.Poll, "stateDir", r.opts.StateDir)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			r.log.Info("reconciler stopped")
			return nil
		case <-r.trigger:
		case <-timer.C:
		}
		next := r.reconcile(ctx)
		if ctx.Err() != nil {
			continue
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next > 0 {
			timer.Reset(next)
		}
	}
}

func (r *Reconciler) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for ch, unregister := range r.subs {
		unregister()
		delete(r.subs, ch)
		close(ch)
	}
}

// reconcile runs one fetch → load → compile → publish and returns the delay
// until the next run (0: only on trigger).
func (r *Reconciler) reconcile(ctx context.Context) time.Duration {
	r.mu.Lock()
	r.conds.set(CondReconciling, true, ReasonProgressing, "fetching "+r.opts.Source.String(), time.Now())
	r.mu.Unlock()

	t0 := time.Now()
	snap, err := r.opts.Source.Fetch(ctx)
	r.m.fetchDuration.Observe(time.Since(t0).Seconds())
	if ctx.Err() != nil {
		return 0
	}
	if err != nil {
		return r.fetchFailed(err)
	}

	r.mu.Lock()
	now := time.Now()
	r.fetch = FetchStatus{LastSuccess: &now}
	if snap.Revision != "" && r.last != nil && r.last.Revision == snap.Revision {
		r.settle(now) // nothing new since the last attempt
		r.mu.Unlock()
		return r.opts.Poll
	}
	r.mu.Unlock()

	t1 := time.Now()
	rs, diags := snap.Load()
	// Compile even after load errors (Incomplete), so one attempt reports
	// every problem; a revision with any error never becomes a bundle.
	loadFailed := diags.HasErrors()
	b, cdiags := compiler.Compile(rs, compiler.Options{Commit: snap.Revision, Incomplete: loadFailed})
	diags = append(diags, cdiags...)
	if loadFailed {
		b = nil
	}
	r.m.compileDuration.Observe(time.Since(t1).Seconds())
	diags.Sort()

	attempt := &Attempt{Revision: snap.Revision, Describe: snap.Describe, At: time.Now(), Diagnostics: diags}
	if diags.HasErrors() || b == nil {
		attempt.Result = ResultInvalid
		r.record(attempt, nil)
		return r.opts.Poll
	}
	attempt.Version = b.Version
	r.record(attempt, b)
	return r.opts.Poll
}

// record stores an attempt and, for a valid one with new content or a new
// commit, applies its bundle: persisted first, then served and published.
func (r *Reconciler) record(a *Attempt, b *compiler.Bundle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = a
	errs := errorsOnly(a.Diagnostics)
	r.m.lastErrors.Set(float64(len(errs)))
	if a.Result == ResultInvalid {
		r.m.attempts.WithLabelValues(ResultInvalid).Inc()
		r.m.failures.WithLabelValues(ReasonValidationFailed).Inc()
		first := ""
		if len(errs) > 0 {
			first = errs[0].Error()
		}
		r.log.Warn("revision invalid; bundle unchanged", "revision", a.Describe, "errors", len(errs), "first", first, "serving", r.servingVersion())
		r.settle(a.At)
		return
	}
	if r.current != nil && r.current.Version == b.Version && r.current.Commit == b.Commit {
		a.Result = ResultUnchanged
		r.restored = false
		r.m.attempts.WithLabelValues(ResultUnchanged).Inc()
		r.settle(a.At)
		return
	}
	a.Result = ResultApplied
	if err := saveState(r.opts.StateDir, &persisted{AppliedAt: a.At, Bundle: b}); err != nil {
		// Serve it anyway: the mesh should not wait for a disk; a restart
		// would serve the previous persisted bundle until the next fetch.
		r.m.failures.WithLabelValues(ReasonPersistFailed).Inc()
		r.log.Error("bundle applied but not persisted", "err", err)
	}
	r.current, r.appliedAt, r.restored = b, a.At, false
	r.m.attempts.WithLabelValues(ResultApplied).Inc()
	r.m.lastApplied.Set(float64(a.At.Unix()))
	r.m.serving(b.Version, b.Commit)
	r.log.Info("bundle applied", "revision", a.Describe, "version", b.Version, "resources", len(b.Resources), "warnings", len(a.Diagnostics))
	for ch := range r.subs {
		select {
		case <-ch:
		default:
		}
		ch <- b
	}
	r.settle(a.At)
}

// settle sets the conditions from the last attempt once a fetch succeeded.
func (r *Reconciler) settle(now time.Time) {
	r.conds.set(CondReconciling, false, ReasonSucceeded, "", now)
	a := r.last
	if a != nil && a.Result == ResultInvalid {
		errs := errorsOnly(a.Diagnostics)
		msg := fmt.Sprintf("revision %s is invalid (%d errors, see errors); serving version %s", a.Describe, len(errs), r.servingVersion())
		r.conds.set(CondReady, false, ReasonValidationFailed, msg, now)
		r.conds.set(CondStalled, true, ReasonValidationFailed, msg, now)
		r.m.ready.Set(0)
		return
	}
	msg := "no revision applied yet"
	if r.current != nil {
		msg = fmt.Sprintf("applied revision %s: version %s", a.describeOr(r.current.Commit), r.current.Version)
	}
	r.conds.set(CondReady, true, ReasonSucceeded, msg, now)
	r.conds.set(CondStalled, false, ReasonSucceeded, "", now)
	r.m.ready.Set(1)
}

// fetchFailed records a failed fetch and returns the backoff delay.
func (r *Reconciler) fetchFailed(err error) time.Duration {
	reason := fetchReason(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.fetch.ConsecutiveFailures++
	n := r.fetch.ConsecutiveFailures
	delay := r.opts.MinBackoff << min(n-1, 20)
	if delay > r.opts.MaxBackoff || delay <= 0 {
		delay = r.opts.MaxBackoff
	}
	next := now.Add(delay)
	r.fetch.LastError, r.fetch.LastErrorReason, r.fetch.NextRetry = err.Error(), reason, &next
	r.m.attempts.WithLabelValues(ReasonFetchFailed).Inc()
	r.m.failures.WithLabelValues(reason).Inc()
	r.m.ready.Set(0)
	msg := fmt.Sprintf("fetch failed %d time(s), retrying in %s; serving version %s: %v", n, delay.Round(time.Millisecond), r.servingVersion(), err)
	r.conds.set(CondReady, false, reason, msg, now)
	r.conds.set(CondReconciling, true, reason, msg, now)
	// A missing ref needs its owner to act; a network failure may heal itself.
	r.conds.set(CondStalled, reason == ReasonRefNotFound || reason == ReasonAuthFailed, reason, msg, now)
	r.log.Warn("fetch failed", "reason", reason, "attempt", n, "retryIn", delay, "err", err)
	return delay
}

func (r *Reconciler) servingVersion() string {
	if r.current == nil {
		return "(none)"
	}
	return r.current.Version
}

func (a *Attempt) describeOr(commit string) string {
	if a != nil && a.Describe != "" {
		return a.Describe
	}
	if commit == "" {
		return "(directory)"
	}
	return short(commit)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
