package status

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, exported so that dashboards and tests need not repeat the strings.
const (
	// MetricWriteDuration is a histogram of the time one status write (one request to the
	// status subresource) takes, conflicts included.
	MetricWriteDuration = "warden_status_write_duration_seconds"
	// MetricWrites counts the statuses written.
	MetricWrites = "warden_status_writes_total"
	// MetricSkips counts the passes that wrote nothing, by reason: "unchanged" (the stored
	// status is the computed one), "stale" (the Decider had not judged the generation read
	// yet), "superseded" (the stored status describes a newer generation) and "gone" (the
	// object no longer exists, or the Decider does not know it).
	MetricSkips = "warden_status_skips_total"
	// MetricConflicts counts the writes the API server refused because the object had
	// changed since it was read; each is retried on a fresh read.
	MetricConflicts = "warden_status_conflicts_total"
	// MetricErrors counts the passes that failed for any other reason (a request error, a
	// status the API server rejects, an error from the Decider).
	MetricErrors = "warden_status_errors_total"
)

// metrics are the Writer's collectors. The zero value is not usable; see newMetrics.
type metrics struct {
	writeDuration prometheus.Histogram
	writes        prometheus.Counter
	skips         *prometheus.CounterVec
	conflicts     prometheus.Counter
	errors        prometheus.Counter
}

// newMetrics builds the collectors and registers them with reg, if reg is not nil. When reg
// already holds a collector of the same description (two Writers on one registry), the
// registered one is used, so the two add up.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		writeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricWriteDuration,
			Help:    "Time taken by one HTTPProxy status write to the API server.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1ms to 8s
		}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricWrites,
			Help: "HTTPProxy statuses written.",
		}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricSkips,
			Help: "HTTPProxy status passes that wrote nothing, by reason.",
		}, []string{"reason"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricConflicts,
			Help: "HTTPProxy status writes refused with a conflict, and retried.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricErrors,
			Help: "HTTPProxy status passes that failed.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.writeDuration = register(reg, m.writeDuration, &err)
	m.writes = register(reg, m.writes, &err)
	m.skips = register(reg, m.skips, &err)
	m.conflicts = register(reg, m.conflicts, &err)
	m.errors = register(reg, m.errors, &err)
	if err != nil {
		return nil, fmt.Errorf("status: registering metrics: %w", err)
	}
	return m, nil
}

// register registers c, or returns the collector already registered in its place. The
// first error is kept in *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if *errp == nil {
		*errp = err
	}
	return c
}
