package zone

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

// Run applies bundle, ingress, CA and registry changes until ctx is done.
// Each round recomputes only the proxies the changes affect and publishes
// their snapshots; certificates are rotated at half-life.
func (a *Agent) Run(ctx context.Context) error {
	w := a.watch
	defer w.Close()
	rotate := time.NewTimer(time.Hour)
	defer rotate.Stop()
	affected := map[compiler.ProxyKey]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
			a.applyGlobal(affected)
		case <-w.C():
			// Drain, not Next: the signal may be stale (its keys taken by an
			// earlier round), and Next would block the loop until the next change.
			a.applyRegistry(w.Drain(), affected)
		case <-rotate.C:
			due, _ := a.certs.due(a.now())
			for _, k := range due {
				affected[k] = struct{}{}
			}
			if len(due) > 0 {
				a.log.Info("rotating workload certificates", "proxies", len(due))
			}
		}
		if a.planned() == nil {
			continue // nothing is served before the first bundle; keep what is affected
		}
		a.updateVIPs(affected)
		a.publish(affected)
		a.syncZoneProxies()
		affected = map[compiler.ProxyKey]struct{}{}
		// Re-arm the rotation timer for the earliest half-life.
		if _, next := a.certs.due(a.now()); !next.IsZero() {
			resetTimer(rotate, max(next.Sub(a.now()), time.Second))
		} else {
			resetTimer(rotate, time.Hour)
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// applyGlobal applies a pending bundle and/or remote ingresses.
func (a *Agent) applyGlobal(affected map[compiler.ProxyKey]struct{}) {
	a.mu.Lock()
	b, pendingB := a.bundle, a.pendingB
	ing, pendingI := a.ingresses, a.pendingI
	caDirty := a.caDirty
	a.pendingB, a.pendingI, a.caDirty = false, false, map[string]bool{}
	a.mu.Unlock()
	if len(caDirty) > 0 {
		for _, k := range a.planner.Proxies() {
			if caDirty[k.Mesh] {
				affected[k] = struct{}{}
			}
		}
	}
	if pendingB && b != nil {
		a.mu.Lock()
		a.applied = b
		a.mu.Unlock()
		caChanged := a.ensureCAs(b)
		for _, k := range a.planner.SetBundle(b) {
			affected[k] = struct{}{}
		}
		if len(caChanged) > 0 {
			for _, k := range a.planner.Proxies() {
				if caChanged[k.Mesh] {
					affected[k] = struct{}{}
				}
			}
		}
		a.metrics.bundle.Reset()
		a.metrics.bundle.WithLabelValues(b.Version, b.Commit).Set(1)
		a.log.Info("bundle applied", "version", b.Version, "commit", b.Commit, "affected", len(affected))
	}
	if pendingI {
		for _, k := range a.planner.SetZoneIngresses(ing) {
			affected[k] = struct{}{}
		}
	}
}

// planned is the bundle the planner has (nil before the first).
func (a *Agent) planned() *compiler.Bundle {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

// ensureCAs makes sure every mTLS mesh of b has a CA: in standalone mode it
// loads or generates it under the state dir. It returns the meshes whose CA
// changed since the last call (including meshes seen for the first time).
func (a *Agent) ensureCAs(b *compiler.Bundle) map[string]bool {
	changed := map[string]bool{}
	for _, m := range b.OfType(schema.TypeMesh) {
		spec := m.MeshSpec()
		if pki.EnabledBackend(spec) == nil {
			continue
		}
		if a.opts.Standalone {
			if a.certs.ca(m.Name) != nil {
				continue
			}
			ca, created, err := a.loadOrCreateCA(m.Name, pki.CAOptionsFor(spec))
			if err != nil {
				a.log.Error("mesh CA unavailable; its proxies get no config", "mesh", m.Name, "err", err)
				continue
			}
			if created {
				a.log.Info("mesh CA generated", "mesh", m.Name, "notAfter", ca.Cert.NotAfter)
			}
			if a.certs.setCA(ca) {
				changed[m.Name] = true
			}
		} else if a.certs.ca(m.Name) == nil {
			a.log.Warn("mesh has mTLS but the global has not sent its CA yet; its proxies wait", "mesh", m.Name)
		}
	}
	return changed
}

func (a *Agent) loadOrCreateCA(mesh string, opts pki.CAOptions) (*pki.CA, bool, error) {
	if a.opts.StateDir == "" {
		ca, err := pki.NewCA(mesh, opts, a.now())
		return ca, true, err
	}
	return pki.LoadOrCreateCA(a.opts.StateDir, mesh, opts, a.now())
}

// applyRegistry feeds changed registry keys to the planner.
func (a *Agent) applyRegistry(keys []schema.Key, affected map[compiler.ProxyKey]struct{}) {
	for _, k := range keys {
		if k.Type == schema.TypeZoneEgress {
			for _, x := range a.planner.SetZoneEgresses(a.reg.Resources(schema.TypeZoneEgress)) {
				affected[x] = struct{}{}
			}
		}
		if k.Type != schema.TypeDataplane {
			continue // zone ingresses and egresses are planned by syncZoneProxies every round
		}
		pk := compiler.ProxyKey{Mesh: k.Mesh, Name: k.Name}
		e, ok := a.reg.Get(k)
		if !ok {
			for _, x := range a.planner.DeleteDataplane(pk) {
				affected[x] = struct{}{}
			}
			affected[pk] = struct{}{}
			continue
		}
		xs, err := a.planner.UpsertDataplane(e.Resource)
		if err != nil {
			a.log.Error("dataplane not planned", "dataplane", k.String(), "err", err)
			continue
		}
		for _, x := range xs {
			affected[x] = struct{}{}
		}
	}
}

// publish recomputes and publishes the affected proxies' snapshots.
func (a *Agent) publish(affected map[compiler.ProxyKey]struct{}) {
	if len(affected) == 0 {
		return
	}
	start := time.Now()
	keys := make([]compiler.ProxyKey, 0, len(affected))
	for k := range affected {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	b := a.planned()
	// Plans first (the planner is sequential), then the certificates the
	// round needs in parallel (signing dominates a full build), then publish.
	type job struct {
		k    compiler.ProxyKey
		plan *compiler.ProxyPlan
		id   *WorkloadIdentity
		err  error
	}
	jobs := make([]*job, 0, len(keys))
	var failed int
	for _, k := range keys {
		if _, ok := a.reg.Get(schema.Key{Type: schema.TypeDataplane, Mesh: k.Mesh, Name: k.Name}); !ok {
			a.pub.Remove(k)
			a.certs.forget(k)
			continue
		}
		plan, err := a.planner.Plan(k)
		jobs = append(jobs, &job{k: k, plan: plan, err: err})
	}
	now := a.now()
	parallel(len(jobs), func(i int) {
		j := jobs[i]
		if j.err == nil && j.plan.MTLS {
			j.id, j.err = a.certs.identity(j.k, j.plan.Services, inboundTags(j.plan), meshTTL(b, j.k.Mesh), now)
		}
	})
	for _, j := range jobs {
		err := j.err
		if err == nil {
			if err = a.pub.Update(j.plan, j.id); err != nil {
				err = fmt.Errorf("publish %s: %w", j.k, err)
			}
		}
		if err != nil {
			failed++
			a.log.Error("proxy config not updated", "proxy", j.k.String(), "err", err)
		}
	}
	a.metrics.rounds.Observe(time.Since(start).Seconds())
	a.metrics.proxies.Add(float64(len(keys) - failed))
	a.metrics.failures.Add(float64(failed))
	a.log.Debug("proxies updated", "count", len(keys), "failed", failed, "took", time.Since(start))
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines and waits for them.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

type metrics struct {
	rounds   prometheus.Histogram
	proxies  prometheus.Counter
	failures prometheus.Counter
	bundle   *prometheus.GaugeVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		rounds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meshc_zone_update_seconds", Help: "Time to recompute and publish the proxies one change affected.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		proxies:  prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_zone_proxy_updates_total", Help: "Proxy snapshots recomputed and published."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_zone_proxy_update_failures_total", Help: "Proxy snapshots that could not be built or published."}),
		bundle:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshc_zone_bundle_info", Help: "The bundle the zone applies (value 1)."}, []string{"version", "commit"}),
	}
	if r != nil {
		r.MustRegister(m.rounds, m.proxies, m.failures, m.bundle)
	}
	return m
}

// registerRegistryMetrics exposes the registry's size and online proxies.
func (a *Agent) registerRegistryMetrics(r prometheus.Registerer) {
	if r == nil {
		return
	}
	count := func(online bool) float64 {
		n := 0
		for _, e := range a.reg.List(schema.TypeDataplane, "") {
			if !online || e.Status.Online {
				n++
			}
		}
		return float64(n)
	}
	r.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshc_zone_dataplanes", Help: "Dataplanes registered at this zone."}, func() float64 { return count(false) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshc_zone_dataplanes_online", Help: "Registered dataplanes with an open xDS stream."}, func() float64 { return count(true) }),
	)
}

// DataplaneCount is the number of registered dataplanes (for status output).
func (a *Agent) DataplaneCount() int { return len(a.reg.List(schema.TypeDataplane, "")) }
