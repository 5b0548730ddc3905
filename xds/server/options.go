package server

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Options. cmd/ uses them as flag and configuration-file defaults.
const (
	// DefaultAddress is where the xDS server listens, Contour's default: every IPv4 interface,
	// port 8001. Envoy bootstraps written by xds/bootstrap default to the same port.
	DefaultAddress = "0.0.0.0:8001"

	// DefaultMaxConnectionAge is how long a client connection may live before the server asks
	// the client (with an HTTP/2 GOAWAY) to reconnect. An established connection keeps the TLS
	// session of its handshake: rotating the certificates or retiring a CA does not affect it,
	// and an expired client certificate is never re-checked. A bounded age makes every Envoy
	// re-handshake, with the current certificates, within this time (gRPC adds ±10% jitter), and
	// spreads Envoys over the replicas again after a rollout. Each reconnection costs a resync of
	// the client's resources, which is cheap at this rate.
	DefaultMaxConnectionAge = 30 * time.Minute

	// DefaultMaxConnectionAgeGrace is how long streams may go on after MaxConnectionAge before
	// the connection is closed. Envoy opens a new connection as soon as it receives the GOAWAY,
	// so the grace only covers streams that are busy at that moment.
	DefaultMaxConnectionAgeGrace = time.Minute

	// DefaultKeepaliveTime is how long a connection may be idle before the server pings the
	// client, as in Contour. It detects Envoys that vanished without closing their connection
	// (a node lost, a NAT entry dropped), whose watches would otherwise be kept for ever.
	DefaultKeepaliveTime = 60 * time.Second

	// DefaultKeepaliveTimeout is how long the server waits for the answer to a keepalive ping
	// before it closes the connection, as in Contour.
	DefaultKeepaliveTimeout = 20 * time.Second

	// DefaultMaxConcurrentStreams is the number of concurrent streams allowed on one client
	// connection, as in Contour: without ADS Envoy opens one EDS stream per cluster, and
	// gRPC's own default (100) would stall the 101st cluster.
	DefaultMaxConcurrentStreams = 1 << 20

	// DefaultReloadInterval is how often the TLS files are read to detect a rotation. See
	// the package documentation for why the files are polled rather than watched.
	DefaultReloadInterval = time.Second

	// DefaultShutdownTimeout bounds the graceful stop in Run. Streams end as soon as Run's
	// context is done, so a graceful stop normally takes milliseconds; the bound only matters
	// when a client does not read its last messages.
	DefaultShutdownTimeout = 10 * time.Second

	// keepaliveMinTime is the shortest interval between client pings that the server
	// accepts. A client that pings more often is disconnected (GOAWAY "too_many_pings"), so
	// this must stay below any HTTP/2 keepalive interval configured in Envoy's bootstrap for
	// the xDS cluster (Envoy Gateway uses 30 s; xds/bootstrap relies on TCP keepalive and sets
	// none). 15 s is Envoy Gateway's value.
	keepaliveMinTime = 15 * time.Second
)

// Options configure a Server. The zero value of a field means its documented default.
// Either all three TLS files are set, or Insecure is.
type Options struct {
	// Address is the host:port to listen on. Default DefaultAddress ("0.0.0.0:8001"). Tests
	// use "127.0.0.1:0" and read the port back with Server.Addr.
	Address string

	// CAFile is the PEM bundle of certificate authorities that client certificates must chain
	// to. It may hold several certificates: during a CA rotation it holds both the old and the
	// new CA, so that Envoys with a certificate from either are accepted.
	CAFile string

	// CertFile and KeyFile are the server's PEM certificate (chain) and private key. Envoy
	// checks the certificate for the DNS SAN that its bootstrap names (xds/bootstrap:
	// "warden").
	CertFile, KeyFile string

	// Insecure serves xDS in plaintext, without TLS and without authenticating clients. Any
	// process that can reach the port can then read every route, cluster and TLS secret
	// (SDS) Warden serves. It exists for local development only; Run logs a warning when it is
	// set. Insecure and the TLS files are mutually exclusive.
	Insecure bool

	// MaxConnectionAge is the longest a client connection lives before the client is asked to
	// reconnect (and so to re-handshake with the current certificates). Default
	// DefaultMaxConnectionAge (30 minutes).
	MaxConnectionAge time.Duration

	// MaxConnectionAgeGrace is how long streams may go on after MaxConnectionAge before the
	// connection is closed. Default DefaultMaxConnectionAgeGrace (1 minute).
	MaxConnectionAgeGrace time.Duration

	// KeepaliveTime is how long a connection may be idle before the server pings the client.
	// Default DefaultKeepaliveTime (60 s).
	KeepaliveTime time.Duration

	// KeepaliveTimeout is how long the server waits for a ping's answer before it closes the
	// connection. Default DefaultKeepaliveTimeout (20 s).
	KeepaliveTimeout time.Duration

	// MaxConcurrentStreams bounds the concurrent streams of one client connection. Default
	// DefaultMaxConcurrentStreams (1<<20).
	MaxConcurrentStreams uint32

	// ReloadInterval is how often the TLS files are read to detect a rotation. Default
	// DefaultReloadInterval (1 s). Ignored when Insecure.
	ReloadInterval time.Duration

	// ShutdownTimeout bounds the graceful stop once Run's context is done; connections still
	// open after it are closed. Default DefaultShutdownTimeout (10 s).
	ShutdownTimeout time.Duration
}

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	setDefault(&o.Address, DefaultAddress)
	setDefault(&o.MaxConnectionAge, DefaultMaxConnectionAge)
	setDefault(&o.MaxConnectionAgeGrace, DefaultMaxConnectionAgeGrace)
	setDefault(&o.KeepaliveTime, DefaultKeepaliveTime)
	setDefault(&o.KeepaliveTimeout, DefaultKeepaliveTimeout)
	setDefault(&o.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	setDefault(&o.ReloadInterval, DefaultReloadInterval)
	setDefault(&o.ShutdownTimeout, DefaultShutdownTimeout)
	return o
}

// setDefault sets *field to def when it holds its type's zero value.
func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// validate checks defaulted options and reports every problem at once.
func (o Options) validate() error {
	var errs []error
	files := 0
	for _, f := range []string{o.CAFile, o.CertFile, o.KeyFile} {
		if f != "" {
			files++
		}
	}
	switch {
	case o.Insecure && files > 0:
		errs = append(errs, errors.New("insecure serving and TLS files are mutually exclusive: set either Insecure or the CA, certificate and key files"))
	case !o.Insecure && files < 3:
		errs = append(errs, errors.New("TLS needs all of the CA file, the certificate file and the key file (or Insecure, for local development only)"))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"maximum connection age", o.MaxConnectionAge},
		{"maximum connection age grace", o.MaxConnectionAgeGrace},
		{"keepalive time", o.KeepaliveTime},
		{"keepalive timeout", o.KeepaliveTimeout},
		{"reload interval", o.ReloadInterval},
		{"shutdown timeout", o.ShutdownTimeout},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.value))
		}
	}
	return errors.Join(errs...)
}
