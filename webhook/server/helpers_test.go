package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/projectwarden/warden/webhook/server"
)

// waitTimeout bounds every wait in these tests; reaching it is a failure.
const waitTimeout = 10 * time.Second

// runningServer is a Server whose Run is going on in the background.
type runningServer struct {
	*server.Server
	// url is "https://127.0.0.1:<port>".
	url string
	// cancel cancels Run's context.
	cancel context.CancelFunc
	// done is closed when Run has returned, with its result in err.
	done chan struct{}
	err  error
}

// testEnv holds what most tests need: a CA, its serving certificate written to disk, and a
// logger that records what it logs.
type testEnv struct {
	ca    *testCA
	files certFiles
	logs  *logRecorder
}

// newTestEnv creates a CA and a serving certificate in plain files in a temporary directory.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	ca := newTestCA(t, "test CA")
	return &testEnv{ca: ca, files: plainFiles(t, t.TempDir(), ca.issueServing(t)), logs: newLogRecorder(t)}
}

// options returns Options serving the environment's certificate on a free loopback port.
func (e *testEnv) options() server.Options {
	return server.Options{BindAddress: "127.0.0.1", CertFile: e.files.certFile, KeyFile: e.files.keyFile}
}

// start creates a Server from o and runs it until the test ends; the cleanup fails the test
// if Run does not return nil.
func (e *testEnv) start(t *testing.T, o server.Options) *runningServer {
	t.Helper()
	srv, err := server.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(t.Context(), e.logs.logger))
	rs := &runningServer{Server: srv, url: "https://" + srv.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		rs.err = srv.Run(ctx)
		close(rs.done)
	}()
	t.Cleanup(func() {
		cancel()
		if err := rs.wait(t); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rs
}

// wait returns Run's result, failing the test if Run does not return in time.
func (rs *runningServer) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-rs.done:
		return rs.err
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %s", waitTimeout)
		return nil
	}
}

// protocol selects the HTTP version a test client speaks.
type protocol int

const (
	http2 protocol = iota
	http1
)

// String names the protocol, for subtest names.
func (p protocol) String() string {
	if p == http1 {
		return "HTTP/1.1"
	}
	return "HTTP/2"
}

// newClient returns a client trusting roots that speaks only p, so that a test passing
// with it proves the server speaks p.
func newClient(t *testing.T, roots *x509.CertPool, p protocol) *http.Client {
	t.Helper()
	protocols := new(http.Protocols)
	if p == http1 {
		protocols.SetHTTP1(true)
	} else {
		protocols.SetHTTP2(true)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		Protocols:           protocols,
		TLSHandshakeTimeout: waitTimeout,
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: waitTimeout}
}

// response is what a test checks of an HTTP response.
type response struct {
	code  int
	body  string
	proto int
	tls   *tls.ConnectionState
}

// do sends one request and reads the whole response.
func do(ctx context.Context, c *http.Client, method, url string, body io.Reader) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return response{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{code: resp.StatusCode, body: string(b), proto: resp.ProtoMajor, tls: resp.TLS}, nil
}

// mustGet sends a GET and fails the test if it does not complete.
func mustGet(t *testing.T, c *http.Client, url string) response {
	t.Helper()
	resp, err := do(t.Context(), c, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

// logRecorder is a logger that writes to the test log and remembers every line.
type logRecorder struct {
	logger logr.Logger
	mu     sync.Mutex
	lines  []string
}

// newLogRecorder returns a recorder logging at verbosity 1.
func newLogRecorder(t *testing.T) *logRecorder {
	r := &logRecorder{}
	r.logger = funcr.New(func(prefix, args string) {
		line := prefix + " " + args
		r.mu.Lock()
		r.lines = append(r.lines, line)
		r.mu.Unlock()
		t.Log(line)
	}, funcr.Options{Verbosity: 1})
	return r
}

// find returns the first recorded line containing all of parts, or "".
func (r *logRecorder) find(parts ...string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
next:
	for _, line := range r.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}
