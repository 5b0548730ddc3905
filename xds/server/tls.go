package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// tlsFiles names the PEM files the server's TLS material is read from.
type tlsFiles struct {
	ca, cert, key string
}

// tlsContents is what was read from tlsFiles at one moment.
type tlsContents struct {
	ca, cert, key []byte
}

// equal reports whether c and other hold the same bytes.
func (c tlsContents) equal(other tlsContents) bool {
	return bytes.Equal(c.ca, other.ca) && bytes.Equal(c.cert, other.cert) && bytes.Equal(c.key, other.key)
}

// tlsMaterial is the parsed form of tlsContents, and the tls.Config built from it.
type tlsMaterial struct {
	config *tls.Config
	// leaf is the server certificate, for logs.
	leaf *x509.Certificate
	// cas is the number of certificates in the CA bundle, for logs.
	cas int
}

// reloader keeps a *tls.Config built from the latest valid contents of its files and hands
// it to every new handshake through GetConfigForClient. Established connections keep the
// configuration of their own handshake: a reload never touches them.
//
// Concurrency: current is read by handshakes on any goroutine; last and the swap of current
// are only touched by New (before any handshake) and then by the single run goroutine.
type reloader struct {
	files tlsFiles
	// current is the configuration handed to new handshakes; it is never nil after New.
	current atomic.Pointer[tlsMaterial]
	// last is the contents seen by the latest read, loaded or not. Contents are parsed only
	// when they differ from it, so that an invalid rotation is reported once, not every tick.
	last tlsContents
}

// newReloader reads and parses the files once. They must be valid: a server that cannot
// complete a single handshake is a configuration error better reported at start-up.
func newReloader(files tlsFiles) (*reloader, error) {
	r := &reloader{files: files}
	contents, err := files.read()
	if err != nil {
		return nil, err
	}
	m, err := parseTLS(contents)
	if err != nil {
		return nil, fmt.Errorf("loading TLS material (CA %s, certificate %s, key %s): %w", files.ca, files.cert, files.key, err)
	}
	r.last = contents
	r.current.Store(m)
	return r, nil
}

// getConfigForClient is tls.Config.GetConfigForClient: every handshake gets the latest
// configuration that loaded successfully.
func (r *reloader) getConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return r.current.Load().config, nil
}

// run re-reads the files every interval until ctx is done.
func (r *reloader) run(ctx context.Context, interval time.Duration) {
	log := logr.FromContextOrDiscard(ctx)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		changed, err := r.reload()
		switch {
		case err != nil:
			// Also reached, transiently, when a rotation is caught half-way (a new certificate
			// with the old key); the next tick reads the finished rotation.
			log.Error(err, "xDS TLS files changed but cannot be loaded; new connections keep the previous certificates",
				"caFile", r.files.ca, "certFile", r.files.cert, "keyFile", r.files.key)
		case changed:
			m := r.current.Load()
			log.Info("xDS TLS files changed; new connections use the new certificates",
				"certSubject", m.leaf.Subject.String(), "certNotAfter", m.leaf.NotAfter, "clientCAs", m.cas)
		}
	}
}

// reload reads the files and, when their contents changed since the last read, parses them
// and swaps the configuration. It reports whether the configuration was swapped. A read or
// parse error leaves the current configuration in place.
func (r *reloader) reload() (changed bool, err error) {
	contents, err := r.files.read()
	if err != nil {
		return false, err
	}
	if contents.equal(r.last) {
		return false, nil
	}
	r.last = contents
	m, err := parseTLS(contents)
	if err != nil {
		return false, err
	}
	r.current.Store(m)
	return true, nil
}

// read reads the three files. Each path is resolved when it is opened, so a kubelet
// "..data" symlink swap or an atomic rename is seen as soon as it happens.
func (f tlsFiles) read() (tlsContents, error) {
	var c tlsContents
	var err error
	if c.ca, err = os.ReadFile(f.ca); err != nil {
		return c, fmt.Errorf("reading client CA bundle: %w", err)
	}
	if c.cert, err = os.ReadFile(f.cert); err != nil {
		return c, fmt.Errorf("reading server certificate: %w", err)
	}
	if c.key, err = os.ReadFile(f.key); err != nil {
		return c, fmt.Errorf("reading server key: %w", err)
	}
	return c, nil
}

// parseTLS builds the server's TLS configuration: TLS 1.3 only, client certificates
// required and verified against every CA of the bundle.
func parseTLS(c tlsContents) (*tlsMaterial, error) {
	// X509KeyPair checks that the key belongs to the certificate, which catches a rotation
	// read half-way.
	pair, err := tls.X509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("server certificate and key: %w", err)
	}
	pool, cas, err := parseCABundle(c.ca)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle: %w", err)
	}
	return &tlsMaterial{
		config: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{pair},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			// gRPC adds "h2" itself (credentials.NewTLS applies its defaults to the
			// configuration returned by GetConfigForClient too).
		},
		leaf: pair.Leaf,
		cas:  cas,
	}, nil
}

// parseCABundle parses every certificate of a PEM bundle. Unlike
// x509.CertPool.AppendCertsFromPEM it fails on a block that does not parse, rather than
// silently trusting fewer CAs than the file names.
func parseCABundle(bundle []byte) (*x509.CertPool, int, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, 0, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n+1, block.Type)
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, 0, fmt.Errorf("PEM block %d: %w", n+1, err)
		}
		pool.AddCert(ca)
		n++
	}
	if n == 0 {
		return nil, 0, errors.New("no PEM certificate found")
	}
	return pool, n, nil
}
