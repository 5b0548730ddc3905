package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCertificateRotation replaces the serving certificate on disk with one from a new CA
// and checks that new handshakes get it without a restart, while clients holding established
// connections keep working through and after the swap.
func TestCertificateRotation(t *testing.T) {
	cases := map[string]struct {
		layout func(t *testing.T, dir string, sc servingCert) certFiles
		// checkInterval is Options.CertCheckInterval. Where it is left at its default of a
		// minute, beyond the test's 10 s deadline, passing proves the file watch did the work.
		checkInterval time.Duration
	}{
		"files renamed over":          {layout: plainFiles},
		"kubelet ..data symlink swap": {layout: kubeletFiles},
		"symlink swap, old files kept, found by the periodic check": {
			layout:        symlinkSwapKeepingOld,
			checkInterval: 100 * time.Millisecond,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			oldCA, newCA := newTestCA(t, "old CA"), newTestCA(t, "new CA")
			oldCert, newCert := oldCA.issueServing(t), newCA.issueServing(t)
			files := tc.layout(t, t.TempDir(), oldCert)
			env := &testEnv{ca: oldCA, files: files, logs: newLogRecorder(t)}
			o := env.options()
			o.Handlers = map[string]http.Handler{"/validate": http.HandlerFunc(echo)}
			o.CertCheckInterval = tc.checkInterval
			rs := env.start(t, o)

			// The established clients trust only the old CA: a new handshake after the swap
			// would fail, so their requests succeed only over the connection they hold.
			var clients []*establishedClient
			for _, p := range []protocol{http2, http1} {
				clients = append(clients, establish(t, rs.url+"/validate", newClient(t, oldCA.pool(), p), p, oldCert.cert))
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Go(func() { c.loop(t.Context(), stop) })
			}

			start := time.Now()
			files.rotate(t, newCert)
			waitForServingCert(t, rs.Addr().String(), newCert.cert, oldCA, newCA)
			t.Logf("new certificate served %s after the swap", time.Since(start).Round(time.Millisecond))

			// Keep the established connections busy for a while after the swap, too.
			for _, c := range clients {
				c.waitForMore(t, 20)
			}
			close(stop)
			wg.Wait()
			for _, c := range clients {
				if err := c.failure(); err != nil {
					t.Errorf("established %s client: %v", c.proto, err)
				}
				t.Logf("established %s client made %d requests over one connection", c.proto, c.count.Load())
			}

			// A client that trusts only the new CA can now talk to the server.
			for _, p := range []protocol{http2, http1} {
				resp, err := do(t.Context(), newClient(t, newCA.pool(), p), http.MethodPost, rs.url+"/validate", nil)
				if err != nil || resp.code != 200 {
					t.Errorf("%s request trusting only the new CA = %d, %v; want 200", p, resp.code, err)
				}
			}
		})
	}
}

// waitForServingCert polls fresh TLS handshakes (trusting every CA in cas) until the server
// presents want, failing the test after waitTimeout.
func waitForServingCert(t *testing.T, addr string, want *x509.Certificate, cas ...*testCA) {
	t.Helper()
	roots := x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca.cert)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		got, err := servingCertOf(t.Context(), addr, roots)
		if err == nil && got.SerialNumber.Cmp(want.SerialNumber) == 0 && bytes.Equal(got.RawIssuer, want.RawIssuer) {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("server did not present the new certificate within %s; last handshake: %v", waitTimeout, err)
			}
			t.Fatalf("server did not present the new certificate within %s: still serial %x issued by %q, want serial %x issued by %q",
				waitTimeout, got.SerialNumber, got.Issuer.CommonName, want.SerialNumber, want.Issuer.CommonName)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// servingCertOf makes a fresh TLS connection to addr and returns the leaf it presents.
func servingCertOf(ctx context.Context, addr string, roots *x509.CertPool) (*x509.Certificate, error) {
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: roots}}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// establishedClient sends requests, one after another, over one established connection and
// records the first failure.
type establishedClient struct {
	client *http.Client
	url    string
	proto  protocol
	// serving is the certificate of the connection the client must keep using.
	serving *x509.Certificate
	// local is the client-side address of that connection.
	local string

	count atomic.Int64
	mu    sync.Mutex
	err   error
}

// establish makes the client's first request, opening the connection it must keep using.
func establish(t *testing.T, url string, client *http.Client, p protocol, serving *x509.Certificate) *establishedClient {
	t.Helper()
	c := &establishedClient{client: client, url: url, proto: p, serving: serving}
	local, err := c.request(t.Context())
	if err != nil {
		t.Fatalf("first %s request: %v", p, err)
	}
	c.local = local
	return c
}

// request sends one request, checks it succeeded over a connection presenting c.serving, and
// returns the connection's local address.
func (c *establishedClient) request(ctx context.Context) (string, error) {
	var local string
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() },
	})
	resp, err := do(ctx, c.client, http.MethodPost, c.url, nil)
	if err != nil {
		return "", err
	}
	if resp.code != 200 {
		return "", fmt.Errorf("status %d %q", resp.code, resp.body)
	}
	if got := resp.tls.PeerCertificates[0]; got.SerialNumber.Cmp(c.serving.SerialNumber) != 0 {
		return "", fmt.Errorf("connection presents serial %x, want %x", got.SerialNumber, c.serving.SerialNumber)
	}
	return local, nil
}

// loop sends requests until stop is closed or one fails.
func (c *establishedClient) loop(ctx context.Context, stop <-chan struct{}) {
	pace := time.NewTicker(2 * time.Millisecond)
	defer pace.Stop()
	for {
		select {
		case <-stop:
			return
		case <-pace.C:
		}
		local, err := c.request(ctx)
		if err == nil && local != c.local {
			err = fmt.Errorf("request went over a new connection from %s, want the established one from %s", local, c.local)
		}
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("request %d: %w", c.count.Load()+1, err)
			c.mu.Unlock()
			return
		}
		c.count.Add(1)
	}
}

// waitForMore waits until the client has made n more requests, or has failed.
func (c *establishedClient) waitForMore(t *testing.T, n int64) {
	t.Helper()
	target := c.count.Load() + n
	deadline := time.Now().Add(waitTimeout)
	for c.count.Load() < target && c.failure() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("established %s client made %d requests, want %d within %s", c.proto, c.count.Load(), target, waitTimeout)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// failure returns the first failed request's error, or nil.
func (c *establishedClient) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
