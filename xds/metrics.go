package xds

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connected prometheus.Gauge
	snapshots prometheus.Counter
	errors    prometheus.Counter
	acks      *prometheus.CounterVec
	nacks     *prometheus.CounterVec
	translate prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshc_xds_connected_proxies", Help: "Nodes with at least one open xDS stream."}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_xds_snapshots_published_total", Help: "Snapshots put in the xDS cache."}),
		errors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_xds_translate_errors_total", Help: "Plans that could not be translated or published."}),
		acks:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshc_xds_acks_total", Help: "Configuration accepted by proxies, by resource type."}, []string{"type"}),
		nacks:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshc_xds_nacks_total", Help: "Configuration rejected by proxies, by resource type."}, []string{"type"}),
		translate: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meshc_xds_update_seconds", Help: "Time to translate and publish one proxy's plan.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connected, m.snapshots, m.errors, m.acks, m.nacks, m.translate} {
			if err := reg.Register(c); err != nil {
				slog.Warn("xds metrics", "err", err)
			}
		}
	}
	return m
}

// cacheLogger adapts slog to go-control-plane's logger (debug is dropped).
type cacheLogger struct{ l *slog.Logger }

func (c cacheLogger) Debugf(string, ...any)     {}
func (c cacheLogger) Infof(f string, a ...any)  { c.l.Debug(fmt.Sprintf(f, a...)) }
func (c cacheLogger) Warnf(f string, a ...any)  { c.l.Warn(fmt.Sprintf(f, a...)) }
func (c cacheLogger) Errorf(f string, a ...any) { c.l.Error(fmt.Sprintf(f, a...)) }
