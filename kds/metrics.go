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

// RegisterMetrics adds the server's metrics to reg.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	m := s.metrics
	for _, c := range []prometheus.Collector{m.zonesOnline, m.authFailures, m.updatesSent, m.bytesSent, m.nacksSent, m.nacksReceived} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
