package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// ErrAlreadyRun is returned by Run when the Server has already been run: a Server serves once.
var ErrAlreadyRun = errors.New("server has already been run")

// Server is Warden's HTTPS server. Create it with New, then call Run once.
type Server struct {
	// listener is bound by New, so that Addr is known before Run, and closed by Run.
	listener net.Listener
	// handler is the full handler chain: recovery, body limit, routes.
	handler http.Handler
	// tlsConfig hands out the current serving certificate on every handshake.
	tlsConfig *tls.Config
	// certContent watches the certificate and key files.
	certContent *dynamiccertificates.DynamicCertKeyPairContent
	// certController turns certContent into the tls.Config used by handshakes.
	certController *dynamiccertificates.DynamicServingCertificateController

	certFile, keyFile string
	certCheckInterval time.Duration
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration

	// ran is set by the first Run.
	ran atomic.Bool
}

// New validates o, loads the serving certificate and binds the listening socket, so that
// Addr is valid as soon as New returns; connections made before Run wait in the accept queue.
// The certificate files are not watched until Run. Run must be called to release the socket.
func New(o Options) (*Server, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("invalid server options: %w", err)
	}
	handler, err := newHandler(o)
	if err != nil {
		return nil, fmt.Errorf("invalid server options: %w", err)
	}

	certContent, err := dynamiccertificates.NewDynamicServingContentFromFiles("serving", o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading serving certificate %s and key %s: %w", o.CertFile, o.KeyFile, err)
	}
	// The base configuration is copied for every certificate change; the copy, with the
	// current certificate, is what GetConfigForClient returns for each handshake. ALPN must
	// be set here, not only on the listener's configuration, because the configuration
	// returned by GetConfigForClient replaces it for the handshake.
	base := &tls.Config{
		MinVersion: o.MinTLSVersion,
		NextProtos: []string{"h2", "http/1.1"},
	}
	certController := dynamiccertificates.NewDynamicServingCertificateController(base, nil, certContent, nil, nil)
	certContent.AddListener(certController)
	// Prime the controller now so that handshakes succeed before Run starts the watchers.
	if err := certController.RunOnce(); err != nil {
		return nil, fmt.Errorf("loading serving certificate %s and key %s: %w", o.CertFile, o.KeyFile, err)
	}
	tlsConfig := base.Clone()
	tlsConfig.GetConfigForClient = certController.GetConfigForClient

	address := net.JoinHostPort(o.BindAddress, strconv.Itoa(o.Port))
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", address, err)
	}
	return &Server{
		listener:          listener,
		handler:           handler,
		tlsConfig:         tlsConfig,
		certContent:       certContent,
		certController:    certController,
		certFile:          o.CertFile,
		keyFile:           o.KeyFile,
		certCheckInterval: o.CertCheckInterval,
		readHeaderTimeout: o.ReadHeaderTimeout,
		idleTimeout:       o.IdleTimeout,
		shutdownTimeout:   o.ShutdownTimeout,
	}, nil
}

// Addr returns the address the server listens on; with Options.Port 0 it carries the port
// the kernel picked. It is valid from New on.
func (s *Server) Addr() net.Addr {
	return s.listener.Addr()
}

// Run watches the certificate files and serves HTTPS until ctx is done, then shuts down
// gracefully: it stops accepting connections, closes idle ones, and waits up to
// Options.ShutdownTimeout for in-flight requests, after which it closes the connections left.
// It returns once the listener is closed and the drain is over: nil after a complete drain,
// an error if the drain timed out or serving failed. Request contexts carry ctx's values (its
// logger) but not its cancellation, so that shutting down does not abort in-flight requests.
// Run may be called once; later calls return ErrAlreadyRun.
func (s *Server) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	logger := logr.FromContextOrDiscard(ctx)
	addr := s.Addr().String()

	// The certificate watchers outlive ctx until the drain is over: they cost nothing, and
	// stopping them first would only matter if a new handshake could still happen.
	certCtx, stopCerts := context.WithCancel(context.WithoutCancel(ctx))
	var certs sync.WaitGroup
	certs.Go(func() { s.certContent.Run(certCtx, 1) })
	certs.Go(func() { s.certController.Run(1, certCtx.Done()) })
	certs.Go(func() { s.checkCertificate(certCtx, logger) })
	defer func() {
		stopCerts()
		certs.Wait()
	}()

	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.tlsConfig.Clone(),
		ReadHeaderTimeout: s.readHeaderTimeout,
		IdleTimeout:       s.idleTimeout,
		ErrorLog:          log.New(errorLogWriter{logger: logger}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() {
		// The certificate comes from TLSConfig.GetConfigForClient, hence no file names here.
		served <- srv.ServeTLS(s.listener, "", "")
	}()
	logger.Info("Serving HTTPS", "address", addr)

	select {
	case err := <-served:
		// Serve has closed the listener; close whatever connections it leaves.
		_ = srv.Close()
		return fmt.Errorf("serving HTTPS on %s: %w", addr, err)
	case <-ctx.Done():
	}
	return s.shutdown(logger, srv, served, addr)
}

// shutdown drains srv within the shutdown timeout and waits for Serve to return.
func (s *Server) shutdown(logger logr.Logger, srv *http.Server, served <-chan error, addr string) error {
	logger.Info("Shutting down HTTPS server", "address", addr, "timeout", s.shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		errs = append(errs, fmt.Errorf("draining in-flight requests on %s within %s: %w", addr, s.shutdownTimeout, err))
	}
	// Shutdown closes the listener first, so Serve has returned or is about to.
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serving HTTPS on %s: %w", addr, err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	logger.Info("HTTPS server stopped", "address", addr)
	return nil
}

// checkCertificate re-reads the certificate files every certCheckInterval until ctx is done,
// for changes the file watch missed. A changed pair reaches handshakes through the same
// listener as a watched change.
//
// This read can run concurrently with the watch's: the apiserver's content holder does not
// serialise them. If both see a rotation, a read that started before it may store the old
// pair after the watch stored the new one; the next check stores the new pair again. The
// window is a file read and parse wide and happens at most once per rotation.
func (s *Server) checkCertificate(ctx context.Context, logger logr.Logger) {
	ticker := time.NewTicker(s.certCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := s.certContent.RunOnce(ctx); err != nil {
			logger.Error(err, "Re-reading the serving certificate failed; still serving the previous one",
				"certFile", s.certFile, "keyFile", s.keyFile)
		}
	}
}

// errorLogWriter routes net/http's internal log lines to a logr.Logger.
type errorLogWriter struct{ logger logr.Logger }

// Write logs one line from net/http. Failed TLS handshakes are the client's problem and
// frequent (port scans, TCP probes), so they are logged only at V(1).
func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		w.logger.V(1).Info("TLS handshake failed", "detail", msg)
	} else {
		w.logger.Info("HTTP server error", "detail", msg)
	}
	return len(p), nil
}
