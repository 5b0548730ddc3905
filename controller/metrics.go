package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rebuild  *prometheus.HistogramVec
	accepted prometheus.Gauge
	states   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rebuild: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_model_rebuild_duration_seconds",
			Help:    "Time to bring the routing model up to date after a burst of changes, by kind (full or incremental).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"kind"}),
		accepted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_accepted_httpproxies",
			Help: "HTTPProxies in the accepted set (the ones the routing model is built from).",
		}),
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warden_httpproxies",
			Help: "Stored HTTPProxies by the currentStatus Warden computes (valid, invalid, orphaned).",
		}, []string{"status"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.rebuild, m.accepted, m.states} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observeRebuild(full bool, d time.Duration, accepted int) {
	kind := "incremental"
	if full {
		kind = "full"
	}
	m.rebuild.WithLabelValues(kind).Observe(d.Seconds())
	m.accepted.Set(float64(accepted))
}

// observeStates sets the gauge of proxies by currentStatus from counts (see stateCounts).
func (m *metrics) observeStates(counts map[string]int) {
	for s, n := range counts {
		m.states.WithLabelValues(s).Set(float64(n))
	}
}
