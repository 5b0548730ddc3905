package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	sotwv3 "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// ADS is the value to pass as the ads argument of cache.NewSnapshotCache for a cache this
// server serves (R3: never a bare true). Envoy bootstraps written by xds/bootstrap fetch
// every type over one ADS stream; in ADS mode the snapshot cache answers the watches of one
// push in dependency order (clusters, endpoints, listeners, routes), which the server keeps on
// the wire (sotw.WithOrderedADS; delta is always ordered). ADS mode also holds back a
// response to a request that does not name every resource of its type in the snapshot, so
// snapshots must be consistent (Snapshot.Consistent).
const ADS = true

// ErrAlreadyRun is returned by Run when the Server has already been run: a Server serves once.
var ErrAlreadyRun = errors.New("xDS server has already been run")

// Server serves Envoy xDS from a go-control-plane cache over gRPC, with mutual TLS whose
// certificates are reloaded from disk. Create it with New, then call Run once.
type Server struct {
	// listener is bound by New, so that Addr is known before Run; grpc.Server.Serve closes it.
	listener net.Listener
	// reloader hands the current TLS configuration to every handshake; nil when insecure.
	reloader *reloader

	cache     cachev3.Cache
	callbacks serverv3.Callbacks
	opts      Options

	// ran is set by the first Run.
	ran atomic.Bool
}

// New validates o, loads the TLS material and binds the listening socket, so that Addr is
// valid as soon as New returns; connections made before Run wait in the accept queue. The
// TLS files are not re-read until Run. Run must be called to release the socket.
//
// cache is what the server serves: normally a SnapshotCache created with ADS, or a MuxCache of
// one with a LinearCache for endpoints. callbacks may be nil.
func New(cache cachev3.Cache, callbacks serverv3.Callbacks, o Options) (*Server, error) {
	if cache == nil {
		return nil, errors.New("invalid xDS server options: a cache is required")
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("invalid xDS server options: %w", err)
	}
	s := &Server{cache: cache, callbacks: callbacks, opts: o}
	if !o.Insecure {
		r, err := newReloader(tlsFiles{ca: o.CAFile, cert: o.CertFile, key: o.KeyFile})
		if err != nil {
			return nil, err
		}
		s.reloader = r
	}
	listener, err := net.Listen("tcp", o.Address)
	if err != nil {
		return nil, fmt.Errorf("listening for xDS on %s: %w", o.Address, err)
	}
	s.listener = listener
	return s, nil
}

// Addr is the address the server listens on, with the port the kernel chose when
// Options.Address asked for port 0.
func (s *Server) Addr() net.Addr {
	return s.listener.Addr()
}

// Run serves xDS until ctx is done, then stops gracefully: every stream ends at once (the
// go-control-plane server is bound to ctx), clients are sent a GOAWAY, and connections still
// open after Options.ShutdownTimeout are closed. Envoys reconnect to another replica.
// While it runs, the TLS files are re-read every Options.ReloadInterval.
//
// Run logs through the logr.Logger in ctx. It returns nil after a stop caused by ctx, an
// error if serving failed, and ErrAlreadyRun if called a second time.
func (s *Server) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	log := logr.FromContextOrDiscard(ctx)

	// wg.Wait runs after cancel (defers run last-in first-out), so Run returns only once the
	// reloader has stopped.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	g := grpc.NewServer(s.grpcOptions()...)
	// The go-control-plane server is created here rather than in New because it takes a
	// context and ends every stream when that context is done: bound to Run's context, the
	// graceful stop below does not wait for streams that never end on their own.
	xds := serverv3.NewServer(ctx, s.cache, s.callbacks,
		sotwv3.WithOrderedADS(),
		sotwv3.WithLogger(NewLogger(log.WithName("go-control-plane"))),
	)
	register(g, xds)

	if s.reloader != nil {
		wg.Go(func() { s.reloader.run(ctx, s.opts.ReloadInterval) })
		m := s.reloader.current.Load()
		log.Info("serving xDS over mutual TLS", "address", s.Addr().String(),
			"certSubject", m.leaf.Subject.String(), "certNotAfter", m.leaf.NotAfter, "clientCAs", m.cas)
	} else {
		// logr has no warning level: V(0) is the level that is always shown.
		log.Info("WARNING: serving xDS WITHOUT TLS: any client that reaches this address can read every route, cluster and TLS secret; use only for local development",
			"address", s.Addr().String(), "insecure", true)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- g.Serve(s.listener) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serving xDS on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	s.stop(log, g)
	// Serve returns nil once stopped (or ErrServerStopped if it had not started yet).
	<-serveErr
	log.Info("xDS server stopped")
	return nil
}

// Start is Run under the name controller-runtime's manager.Runnable expects.
func (s *Server) Start(ctx context.Context) error {
	return s.Run(ctx)
}

// NeedLeaderElection reports false: every replica serves xDS (R3), as in Contour.
func (s *Server) NeedLeaderElection() bool {
	return false
}

// stop stops g gracefully, and closes whatever is left after Options.ShutdownTimeout.
func (s *Server) stop(log logr.Logger, g *grpc.Server) {
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		log.Info("xDS graceful stop timed out; closing the remaining connections", "timeout", s.opts.ShutdownTimeout)
		g.Stop()
		<-stopped
	}
}

// grpcOptions are the gRPC server options derived from s.opts.
func (s *Server) grpcOptions() []grpc.ServerOption {
	creds := insecure.NewCredentials()
	if s.reloader != nil {
		// The configuration passed here only applies if GetConfigForClient fails to
		// return one; it has no certificate, so such a handshake fails closed.
		creds = credentials.NewTLS(&tls.Config{
			MinVersion:         tls.VersionTLS13,
			ClientAuth:         tls.RequireAndVerifyClientCert,
			GetConfigForClient: s.reloader.getConfigForClient,
		})
	}
	return []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.MaxConcurrentStreams(s.opts.MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  s.opts.KeepaliveTime,
			Timeout:               s.opts.KeepaliveTimeout,
			MaxConnectionAge:      s.opts.MaxConnectionAge,
			MaxConnectionAgeGrace: s.opts.MaxConnectionAgeGrace,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinTime,
			PermitWithoutStream: true,
		}),
	}
}

// register registers xds as the aggregated service (state-of-the-world and delta are two
// methods of that one service) and as the per-type services LDS, RDS, CDS, EDS and SDS, which
// an Envoy configured with a per-type gRPC ConfigSource (as Contour's bootstrap does) uses
// instead of ADS.
func register(g *grpc.Server, xds serverv3.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, xds)
	listenerv3.RegisterListenerDiscoveryServiceServer(g, xds)
	routev3.RegisterRouteDiscoveryServiceServer(g, xds)
	clusterv3.RegisterClusterDiscoveryServiceServer(g, xds)
	endpointv3.RegisterEndpointDiscoveryServiceServer(g, xds)
	secretv3.RegisterSecretDiscoveryServiceServer(g, xds)
}
