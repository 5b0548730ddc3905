package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhooks' Prometheus collectors.
type Metrics struct {
	latency       *prometheus.HistogramVec
	evaluation    *prometheus.HistogramVec
	policyVersion prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// Buckets from 250µs to ~8 s: decisions take well under a millisecond, the API
	// server's webhook timeout is seconds.
	buckets := prometheus.ExponentialBuckets(0.00025, 2, 16)
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_admission_duration_seconds",
			Help:    "Time to answer an admission review, by kind, operation and decision (allowed, denied, error).",
			Buckets: buckets,
		}, []string{"webhook", "kind", "operation", "decision"}),
		evaluation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_policy_evaluation_duration_seconds",
			Help:    "Time spent in policy evaluation (Decide or Mutate) per admission review.",
			Buckets: buckets,
		}, []string{"webhook"}),
		policyVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_policy_set_generation",
			Help: "Generation of the active admin policy set; changes whenever a DelegationPolicy is activated or removed.",
		}),
	}
	for _, c := range []prometheus.Collector{m.latency, m.evaluation, m.policyVersion} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(webhook, kind, op, decision string, start time.Time) {
	if m != nil {
		m.latency.WithLabelValues(webhook, kind, op, decision).Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) observeEvaluation(webhook string, d time.Duration) {
	if m != nil {
		m.evaluation.WithLabelValues(webhook).Observe(d.Seconds())
	}
}

// SetPolicyGeneration records the active policy set's generation.
func (m *Metrics) SetPolicyGeneration(g uint64) {
	if m != nil {
		m.policyVersion.Set(float64(g))
	}
}
