package shutdown

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrDrainTimeout is returned (wrapped) by Drain when Options.DrainTimeout passed with more
// than Options.MinOpenConnections connections still open. Envoy has been draining all the
// while: it is time to let it stop anyway.
var ErrDrainTimeout = errors.New("drain timeout passed with connections still open")

// Envoy admin interface.
const (
	// healthcheckFailPath makes Envoy's health-check filter answer "failing" and starts
	// draining listeners: load balancers stop sending new connections.
	healthcheckFailPath = "/healthcheck/fail"
	// statsPath serves Envoy's stats in the Prometheus text format.
	statsPath = "/stats/prometheus"
	// statsFilter restricts the stats to the active downstream connections of every HTTP
	// connection manager. It matches Envoy's own stat names ("http.<prefix>.
	// downstream_cx_active"), not the Prometheus names they are exported under.
	statsFilter = `^http\..*\.downstream_cx_active$`
	// activeConnections is the Prometheus name of that gauge; its label
	// connManagerLabel holds the connection manager's stat prefix.
	activeConnections = "envoy_http_downstream_cx_active"
	connManagerLabel  = "envoy_http_conn_manager_prefix"
	// adminRequestTimeout bounds one request to Envoy's admin interface.
	adminRequestTimeout = 5 * time.Second
	// adminBody bounds what is read of an admin response.
	adminBody = 16 << 20
)

// unknown is the count of open connections before one was read.
const unknown = -1

// drain fails Envoy's health checks, waits Options.CheckDelay, then counts open connections
// every Options.CheckInterval until there are at most Options.MinOpenConnections, all within
// Options.DrainTimeout. It returns the last count (unknown if none was read).
func (m *Manager) drain(ctx context.Context) (open int, err error) {
	log := logr.FromContextOrDiscard(ctx)
	ctx, cancel := context.WithTimeout(ctx, m.opts.DrainTimeout)
	defer cancel()
	start := time.Now()

	log.Info("draining Envoy: failing its health checks", "adminSocket", m.opts.AdminSocket, "drainTimeout", m.opts.DrainTimeout)
	if err := m.failHealthChecks(ctx); err != nil {
		return unknown, err
	}
	log.Info("Envoy health checks failing; waiting for load balancers to notice", "checkDelay", m.opts.CheckDelay)
	open = unknown
	wait := m.opts.CheckDelay
	for {
		if !sleep(ctx, wait) {
			return open, fmt.Errorf("%w: %s open after %s", ErrDrainTimeout, describe(open), time.Since(start).Round(time.Millisecond))
		}
		wait = m.opts.CheckInterval
		n, err := m.openConnections(ctx)
		if err != nil {
			log.Error(err, "cannot count Envoy's open connections; retrying", "checkInterval", m.opts.CheckInterval)
			continue
		}
		open = n
		if open <= m.opts.MinOpenConnections {
			log.Info("Envoy drained", "openConnections", open, "minOpenConnections", m.opts.MinOpenConnections,
				"elapsed", time.Since(start).Round(time.Millisecond))
			return open, nil
		}
		log.Info("waiting for Envoy's connections to close", "openConnections", open, "minOpenConnections", m.opts.MinOpenConnections)
	}
}

// describe is a count of connections for messages.
func describe(open int) string {
	if open == unknown {
		return "an unknown number of connections"
	}
	return fmt.Sprintf("%d connections", open)
}

// failHealthChecks asks Envoy to fail its health checks, making adminAttempts attempts.
func (m *Manager) failHealthChecks(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx)
	delay := m.opts.AdminRetryDelay
	for attempt := 1; ; attempt++ {
		_, err := m.admin(ctx, http.MethodPost, healthcheckFailPath, nil)
		if err == nil {
			return nil
		}
		if attempt == adminAttempts {
			return fmt.Errorf("failing Envoy's health checks through its admin socket %s (%d attempts): %w", m.opts.AdminSocket, attempt, err)
		}
		log.Info("cannot fail Envoy's health checks; retrying", "attempt", attempt, "retryIn", delay, "error", err.Error())
		if !sleep(ctx, delay) {
			return fmt.Errorf("failing Envoy's health checks through its admin socket %s: %w (last error: %w)", m.opts.AdminSocket, ctx.Err(), err)
		}
		delay *= 5
	}
}

// openConnections reads Envoy's stats and sums the active downstream connections of every
// HTTP connection manager but the ignored ones.
func (m *Manager) openConnections(ctx context.Context) (int, error) {
	body, err := m.admin(ctx, http.MethodGet, statsPath, url.Values{"filter": {statsFilter}})
	if err != nil {
		return 0, err
	}
	return sumActiveConnections(bytes.NewReader(body), m.opts.IgnoredListeners)
}

// admin sends a request to Envoy's admin interface and returns the body of a 200 answer.
func (m *Manager) admin(ctx context.Context, method, path string, query url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, adminRequestTimeout)
	defer cancel()
	// The host is a placeholder: the transport always dials the admin socket.
	u := url.URL{Scheme: "http", Host: "envoy-admin", Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, adminBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: Envoy answered %s: %.200s", method, path, resp.Status, body)
	}
	return body, nil
}

// unixClient is an HTTP client whose every connection goes to the unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		// A few requests, seconds apart: nothing to gain from keeping connections, which
		// would also count among the admin listener's.
		DisableKeepAlives: true,
	}}
}

// sumActiveConnections parses Envoy's Prometheus stats and sums the activeConnections gauge
// over every connection manager whose prefix is not in ignored.
func sumActiveConnections(stats io.Reader, ignored []string) (int, error) {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(stats)
	if err != nil {
		return 0, fmt.Errorf("parsing Envoy's Prometheus stats: %w", err)
	}
	family, ok := families[activeConnections]
	if !ok {
		// Envoy exports the gauge as soon as one HTTP connection manager exists (the admin
		// interface has one), so its absence means the stats are not Envoy's.
		return 0, fmt.Errorf("stats have no %s: not Envoy's stats", activeConnections)
	}
	sum := 0.0
	for _, metric := range family.GetMetric() {
		if slices.Contains(ignored, label(metric, connManagerLabel)) {
			continue
		}
		sum += metric.GetGauge().GetValue() + metric.GetUntyped().GetValue()
	}
	return int(sum), nil
}

// label returns the value of metric's label name, or "".
func label(metric *dto.Metric, name string) string {
	for _, l := range metric.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sleep waits d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
