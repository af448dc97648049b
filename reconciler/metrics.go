package reconciler

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the reconciler's Prometheus series (registered on the api.Server's Registry).
type metrics struct {
	lastApplied     prometheus.Gauge
	ready           prometheus.Gauge
	lastErrors      prometheus.Gauge
	bundleInfo      *prometheus.GaugeVec
	attempts        *prometheus.CounterVec
	failures        *prometheus.CounterVec
	fetchDuration   prometheus.Histogram
	compileDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lastApplied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshc_reconciler_last_applied_timestamp_seconds",
			Help: "Unix time at which the current bundle was applied (0: none yet).",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshc_reconciler_ready",
			Help: "1 when the last reconciliation succeeded (condition Ready=True), else 0.",
		}),
		lastErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshc_reconciler_last_attempt_errors",
			Help: "Errors in the last revision attempted (0 when it was valid).",
		}),
		bundleInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshc_reconciler_bundle_info",
			Help: "1 for the bundle being served, labelled with its version and commit.",
		}, []string{"version", "commit"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshc_reconciler_attempts_total",
			Help: "Reconciliations by result: Applied, Unchanged, Invalid, FetchFailed.",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshc_reconciler_failures_total",
			Help: "Failed reconciliations by reason (FetchFailed, AuthenticationFailed, RefNotFound, ValidationFailed, PersistFailed).",
		}, []string{"reason"}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshc_reconciler_fetch_duration_seconds",
			Help:    "Time to fetch the source (list refs, fetch objects).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		compileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshc_reconciler_compile_duration_seconds",
			Help:    "Time to load, validate and compile one revision.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.lastApplied, m.ready, m.lastErrors, m.bundleInfo, m.attempts, m.failures, m.fetchDuration, m.compileDuration)
	}
	return m
}

// serving points bundle_info at the bundle now served.
func (m *metrics) serving(version, commit string) {
	m.bundleInfo.Reset()
	m.bundleInfo.WithLabelValues(version, commit).Set(1)
}
