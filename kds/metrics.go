package kds

import "github.com/prometheus/client_golang/prometheus"

// metrics are the global's KDS metrics; RegisterMetrics adds them to a registry.
type metrics struct {
	zonesOnline   prometheus.GaugeFunc
	authFailures  prometheus.Counter
	updatesSent   prometheus.Counter
	bytesSent     prometheus.Counter
	nacksSent     prometheus.Counter
	nacksReceived prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	return &metrics{
		zonesOnline: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshc_kds_zones_online", Help: "Zones with an open KDS stream."}, func() float64 {
			n := 0
			for _, z := range s.Zones() {
				if z.Online {
					n++
				}
			}
			return float64(n)
		}),
		authFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_kds_auth_failures_total", Help: "KDS streams refused for a missing, bad, expired or mismatched zone token."}),
		updatesSent:   prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_kds_updates_sent_total", Help: "KDS updates sent to zones."}),
		bytesSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_kds_sent_bytes_total", Help: "KDS message bytes sent to zones."}),
		nacksSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_kds_nacks_sent_total", Help: "Zone updates the global rejected."}),
		nacksReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "meshc_kds_nacks_received_total", Help: "Global updates a zone rejected."}),
	}
}

// zoneCollector exports each zone's status: online, enabled, in sync with
// the global's bundle, and whether its last update was NACKed.
type zoneCollector struct {
	s                                 *Server
	online, enabled, inSync, lastNACK *prometheus.Desc
}

func newZoneCollector(s *Server) *zoneCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"zone"}, nil)
	}
	return &zoneCollector{s: s,
		online:   d("meshc_kds_zone_online", "1 while the zone has an open KDS stream."),
		enabled:  d("meshc_kds_zone_enabled", "0 when Git disables the zone (Zone{enabled: false})."),
		inSync:   d("meshc_kds_zone_in_sync", "1 when the zone applied the global's current bundle."),
		lastNACK: d("meshc_kds_zone_nack", "1 when the zone's last update (either way) was rejected; GET /zones says why."),
	}
}

func (c *zoneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.online
	ch <- c.enabled
	ch <- c.inSync
	ch <- c.lastNACK
}

func (c *zoneCollector) Collect(ch chan<- prometheus.Metric) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, z := range c.s.Zones() {
		ch <- prometheus.MustNewConstMetric(c.online, prometheus.GaugeValue, b(z.Online), z.Name)
		ch <- prometheus.MustNewConstMetric(c.enabled, prometheus.GaugeValue, b(z.Enabled), z.Name)
		ch <- prometheus.MustNewConstMetric(c.inSync, prometheus.GaugeValue, b(z.InSync), z.Name)
		ch <- prometheus.MustNewConstMetric(c.lastNACK, prometheus.GaugeValue, b(z.LastNACK != nil), z.Name)
	}
}

// RegisterMetrics adds the server's metrics to reg.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	m := s.metrics
	for _, c := range []prometheus.Collector{m.zonesOnline, m.authFailures, m.updatesSent, m.bytesSent, m.nacksSent, m.nacksReceived, newZoneCollector(s)} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
