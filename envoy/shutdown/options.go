package shutdown

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Defaults for Options. cmd/ uses them as flag defaults.
const (
	// DefaultAddress is where the shutdown-manager serves /healthz and /shutdown, Contour's
	// port: Envoy's preStop hook is an HTTP GET of /shutdown on it.
	DefaultAddress = ":8090"

	// DefaultAdminSocket is Envoy's admin socket, shared through a volume
	// (xds/bootstrap.DefaultAdminSocket).
	DefaultAdminSocket = "/admin/admin.sock"

	// DefaultCheckDelay is how long to wait after failing Envoy's health checks before
	// counting connections: the time load balancers need to notice the failing health check
	// and stop sending new connections. Contour's default.
	DefaultCheckDelay = 60 * time.Second

	// DefaultCheckInterval is how often open connections are counted. Contour's default.
	DefaultCheckInterval = 5 * time.Second

	// DefaultDrainTimeout bounds a whole drain, check delay included: /shutdown answers
	// once it passes even if connections are still open, so that a pod never hangs until
	// Kubernetes kills it. It must stay below the pod's terminationGracePeriodSeconds (300 s
	// in Contour's example and in Warden's chart), leaving Envoy time to exit.
	DefaultDrainTimeout = 4 * time.Minute

	// DefaultAdminRetryDelay is the delay before the second attempt to fail Envoy's health
	// checks; it grows fivefold before each later attempt (200 ms, 1 s, 5 s), as in Contour.
	DefaultAdminRetryDelay = 200 * time.Millisecond
)

// adminAttempts is how many times the health-check failure is sent to Envoy before giving
// up: Envoy may still be starting its admin listener, or restarting.
const adminAttempts = 4

// defaultIgnoredListeners are the HTTP connection managers whose connections do not count
// as traffic to drain: Envoy's admin interface (its stat prefix is "admin"; the
// shutdown-manager's own stats requests are among its connections) and the stats and health
// listeners, which Prometheus and the kubelet keep connecting to. These are Contour's names;
// the xDS translation must use them as the stat prefixes of those listeners.
func defaultIgnoredListeners() []string {
	return []string{"admin", "envoy-admin", "stats", "health", "stats-health"}
}

// Options configure a Manager. The zero value of a field means its documented default.
type Options struct {
	// Address is the host:port to serve /healthz and /shutdown on. Default DefaultAddress
	// (":8090"). Tests use "127.0.0.1:0" and read the port back with Manager.Addr.
	Address string

	// AdminSocket is the path of Envoy's admin unix socket. Default DefaultAdminSocket.
	AdminSocket string

	// CheckDelay is the wait between failing Envoy's health checks and the first count of
	// open connections. Default DefaultCheckDelay (60 s).
	CheckDelay time.Duration

	// CheckInterval is the wait between two counts of open connections. Default
	// DefaultCheckInterval (5 s).
	CheckInterval time.Duration

	// MinOpenConnections is the number of open connections at or below which Envoy counts
	// as drained. Default 0.
	MinOpenConnections int

	// DrainTimeout bounds a drain from its start. Default DefaultDrainTimeout (4 minutes).
	DrainTimeout time.Duration

	// AdminRetryDelay is the delay before the second attempt to fail Envoy's health checks.
	// Default DefaultAdminRetryDelay (200 ms).
	AdminRetryDelay time.Duration

	// IgnoredListeners are the stat prefixes (the envoy_http_conn_manager_prefix label) of
	// the HTTP connection managers whose connections are not counted. Default: "admin",
	// "envoy-admin", "stats", "health" and "stats-health".
	IgnoredListeners []string
}

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.AdminSocket == "" {
		o.AdminSocket = DefaultAdminSocket
	}
	if o.CheckDelay == 0 {
		o.CheckDelay = DefaultCheckDelay
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.AdminRetryDelay == 0 {
		o.AdminRetryDelay = DefaultAdminRetryDelay
	}
	if o.IgnoredListeners == nil {
		o.IgnoredListeners = defaultIgnoredListeners()
	}
	return o
}

// validate checks defaulted options and reports every problem at once.
func (o Options) validate() error {
	var errs []error
	if !filepath.IsAbs(o.AdminSocket) {
		errs = append(errs, fmt.Errorf("admin socket %q must be an absolute path", o.AdminSocket))
	}
	if o.MinOpenConnections < 0 {
		errs = append(errs, fmt.Errorf("minimum open connections %d is negative", o.MinOpenConnections))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"check delay", o.CheckDelay},
		{"check interval", o.CheckInterval},
		{"drain timeout", o.DrainTimeout},
		{"admin retry delay", o.AdminRetryDelay},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.value))
		}
	}
	return errors.Join(errs...)
}
