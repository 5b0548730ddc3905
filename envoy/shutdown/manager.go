package shutdown

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Paths served by a Manager.
const (
	// HealthzPath answers 200 while the shutdown-manager runs: the sidecar's liveness probe.
	HealthzPath = "/healthz"
	// ShutdownPath (GET or POST) drains Envoy and answers when the drain is over: Envoy's
	// preStop hook.
	ShutdownPath = "/shutdown"
)

const (
	// readHeaderTimeout bounds reading a request's headers.
	readHeaderTimeout = 10 * time.Second
	// stopTimeout bounds, once the drain is over, the wait for the answers of pending
	// /shutdown requests.
	stopTimeout = 5 * time.Second
)

// ErrAlreadyRun is returned by Run when the Manager has already been run.
var ErrAlreadyRun = errors.New("shutdown-manager has already been run")

// Manager is the shutdown-manager: it drains Envoy before Envoy's pod stops. Create it with
// New, then call Run once. See the package documentation for how it fits in a pod.
type Manager struct {
	// listener is bound by New, so that Addr is known before Run.
	listener net.Listener
	// client talks to Envoy's admin socket.
	client *http.Client
	opts   Options

	// drainOnce starts the only drain; drained is closed when it ends, after drainOpen and
	// drainErr are set.
	drainOnce sync.Once
	drained   chan struct{}
	drainOpen int
	drainErr  error

	// ran is set by the first Run.
	ran atomic.Bool
}

// New validates o and binds the listening socket, so that Addr is valid as soon as New
// returns. Envoy's admin socket is not contacted until a drain starts. Run must be called to
// release the socket.
func New(o Options) (*Manager, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("invalid shutdown-manager options: %w", err)
	}
	listener, err := net.Listen("tcp", o.Address)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.Address, err)
	}
	return &Manager{
		listener: listener,
		client:   unixClient(o.AdminSocket),
		opts:     o,
		drained:  make(chan struct{}),
	}, nil
}

// Addr is the address the Manager listens on.
func (m *Manager) Addr() net.Addr {
	return m.listener.Addr()
}

// Run serves HealthzPath and ShutdownPath until ctx is done. Then, since that means the
// pod is stopping (SIGTERM), it drains Envoy (or waits for the drain a /shutdown request
// started), answers the pending /shutdown requests and returns. Draining on SIGTERM matters:
// Kubernetes sends it to this container at the same time as it runs Envoy's preStop hook, so
// the hook's request may reach a Manager that is already stopping.
//
// Run logs through the logr.Logger in ctx, which requests inherit. A drain that fails or
// times out is logged; Run then returns nil all the same, since the pod is stopping anyway.
func (m *Manager) Run(ctx context.Context) error {
	if !m.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	log := logr.FromContextOrDiscard(ctx)
	// Requests, and the drain, outlive ctx: /shutdown is answered after ctx is done.
	base := context.WithoutCancel(ctx)
	srv := &http.Server{
		Handler:           m.handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(m.listener) }()
	log.Info("shutdown-manager serving", "address", m.Addr().String(), "adminSocket", m.opts.AdminSocket)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving on %s: %w", m.Addr(), err)
	case <-ctx.Done():
	}
	log.Info("stopping: draining Envoy first")
	if err := m.Drain(base); err != nil {
		log.Error(err, "Envoy's drain did not complete")
	}
	stopCtx, cancel := context.WithTimeout(base, stopTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		_ = srv.Close()
	}
	<-serveErr
	log.Info("shutdown-manager stopped")
	return nil
}

// Drain drains Envoy: it fails Envoy's health checks through the admin socket (making 4
// attempts), waits Options.CheckDelay, then counts Envoy's open HTTP connections every
// Options.CheckInterval until at most Options.MinOpenConnections remain. The whole drain is
// bounded by Options.DrainTimeout.
//
// A Manager drains once. The first call starts the drain; every call, concurrent or later,
// waits for that drain and returns its result: nil when Envoy drained, an error wrapping
// ErrDrainTimeout when the timeout passed first, or the error that stopped it (the admin
// socket unreachable). The drain carries on if the caller that started it goes away; a
// caller whose ctx ends first gets ctx's error. The drain logs through ctx's logger.
func (m *Manager) Drain(ctx context.Context) error {
	m.drainOnce.Do(func() {
		drainCtx := context.WithoutCancel(ctx)
		go func() {
			m.drainOpen, m.drainErr = m.drain(drainCtx)
			close(m.drained)
		}()
	})
	select {
	case <-m.drained:
		return m.drainErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handler routes the Manager's paths.
func (m *Manager) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+ShutdownPath, m.serveShutdown)
	mux.HandleFunc("POST "+ShutdownPath, m.serveShutdown)
	return mux
}

// serveShutdown drains Envoy and answers once the drain is over: 200 when Envoy drained or
// the drain timed out (either way Envoy may now stop), 500 with the reason when the drain
// could not happen (Kubernetes records a failed preStop hook and stops Envoy all the same).
func (m *Manager) serveShutdown(w http.ResponseWriter, r *http.Request) {
	log := logr.FromContextOrDiscard(r.Context())
	log.Info("shutdown requested", "remoteAddr", r.RemoteAddr)
	err := m.Drain(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case err == nil:
		_, _ = fmt.Fprintf(w, "Envoy drained: %d open connections\n", m.drainOpen)
	case errors.Is(err, ErrDrainTimeout):
		_, _ = fmt.Fprintf(w, "Envoy not fully drained: %v\n", err)
	default:
		http.Error(w, "Envoy not drained: "+err.Error(), http.StatusInternalServerError)
	}
}
