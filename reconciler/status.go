package reconciler

import (
	"time"

	"github.com/meshc/meshc/schema"
)

// Condition types, as Flux reports them.
const (
	// Ready is True when the last reconciliation applied (or confirmed) the
	// source's newest revision, False when fetching or validating it failed.
	CondReady = "Ready"
	// Reconciling is True while a fetch/compile is in progress or a failed
	// fetch is being retried.
	CondReconciling = "Reconciling"
	// Stalled is True when the source cannot progress without a change from
	// its owner: an invalid commit, a ref or directory that does not exist.
	CondStalled = "Stalled"
)

// Reasons, in conditions, attempts and the failures metric.
const (
	ReasonSucceeded        = "Succeeded"
	ReasonProgressing      = "Progressing"
	ReasonRestored         = "RestoredFromState"
	ReasonFetchFailed      = "FetchFailed"
	ReasonAuthFailed       = "AuthenticationFailed"
	ReasonRefNotFound      = "RefNotFound"
	ReasonValidationFailed = "ValidationFailed"
	ReasonPersistFailed    = "PersistFailed"
)

// Attempt results.
const (
	ResultApplied   = "Applied"   // a new bundle is current
	ResultUnchanged = "Unchanged" // valid, same content as the current bundle
	ResultInvalid   = "Invalid"   // errors; nothing served changed
)

// Status is what GET /bundle returns: the bundle in force, the last attempt
// and its errors (with positions), conditions, and the state of fetching.
type Status struct {
	Source string `json:"source"`
	// The bundle being served ("" before any bundle exists).
	Version   string     `json:"version,omitempty"`
	Commit    string     `json:"commit,omitempty"`
	AppliedAt *time.Time `json:"appliedAt,omitempty"`
	Resources int        `json:"resources"`
	// Restored is true while the bundle served is the one persisted in the
	// state dir and no fetch has succeeded yet.
	Restored bool `json:"restored,omitempty"`
	// Errors are the error diagnostics of the last attempt (empty when it was valid).
	Errors      []schema.Error `json:"errors"`
	LastAttempt *Attempt       `json:"lastAttempt,omitempty"`
	Conditions  []Condition    `json:"conditions"`
	Fetch       FetchStatus    `json:"fetch"`
	// Bundle is the full bundle, only with GET /bundle?resources=true.
	Bundle any `json:"bundle,omitempty"`
}

// Attempt is the last revision loaded and compiled.
type Attempt struct {
	Revision    string         `json:"revision,omitempty"`
	Describe    string         `json:"describe,omitempty"`
	At          time.Time      `json:"at"`
	Result      string         `json:"result"`
	Version     string         `json:"version,omitempty"`
	Diagnostics []schema.Error `json:"diagnostics,omitempty"` // errors and warnings
}

// Condition is one Flux-style condition.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"` // "True" | "False"
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// FetchStatus tracks fetching and its retries.
type FetchStatus struct {
	LastSuccess         *time.Time `json:"lastSuccess,omitempty"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	LastError           string     `json:"lastError,omitempty"`
	LastErrorReason     string     `json:"lastErrorReason,omitempty"`
	NextRetry           *time.Time `json:"nextRetry,omitempty"`
}

// conditions holds the three conditions, keeping transition times.
type conditions map[string]*Condition

func newConditions(now time.Time) conditions {
	c := conditions{}
	c.set(CondReady, false, ReasonProgressing, "no revision fetched yet", now)
	c.set(CondReconciling, true, ReasonProgressing, "waiting for the first fetch", now)
	c.set(CondStalled, false, ReasonProgressing, "", now)
	return c
}

func (c conditions) set(typ string, status bool, reason, msg string, now time.Time) {
	s := "False"
	if status {
		s = "True"
	}
	old := c[typ]
	if old != nil && old.Status == s {
		old.Reason, old.Message = reason, msg
		return
	}
	c[typ] = &Condition{Type: typ, Status: s, Reason: reason, Message: msg, LastTransitionTime: now}
}

func (c conditions) list() []Condition {
	out := make([]Condition, 0, 3)
	for _, t := range []string{CondReady, CondReconciling, CondStalled} {
		if x := c[t]; x != nil {
			out = append(out, *x)
		}
	}
	return out
}

// errorsOnly keeps the error-severity diagnostics.
func errorsOnly(es schema.Errors) []schema.Error {
	out := []schema.Error{}
	for _, e := range es {
		if e.Severity != schema.SeverityWarning {
			out = append(out, e)
		}
	}
	return out
}
