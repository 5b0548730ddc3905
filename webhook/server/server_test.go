package server_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/projectwarden/warden/webhook/server"
)

// echo answers with the request body, or 413 when the body is over the server's limit: the
// pattern admission handlers follow.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if server.BodyTooLarge(err) {
		http.Error(w, "handler: request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write(body)
}

func TestServeRoutes(t *testing.T) {
	env := newTestEnv(t)
	registry := prometheus.NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_test_requests_total", Help: "Test counter."})
	registry.MustRegister(counter)
	counter.Add(3)
	o := env.options()
	o.Registry = registry
	o.Handlers = map[string]http.Handler{
		"/validate":    http.HandlerFunc(echo),
		"POST /mutate": http.HandlerFunc(echo),
		"/views/":      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) }),
	}
	rs := env.start(t, o)
	client := newClient(t, env.ca.pool(), http2)

	cases := map[string]struct {
		method, path, body string
		wantCode           int
		wantBody           string // substring
	}{
		"healthz":                    {method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok"},
		"readyz without Ready":       {method: "GET", path: "/readyz", wantCode: 200, wantBody: "ok"},
		"metrics":                    {method: "GET", path: "/metrics", wantCode: 200, wantBody: "warden_test_requests_total 3"},
		"handler":                    {method: "POST", path: "/validate", body: "review", wantCode: 200, wantBody: "review"},
		"handler with method":        {method: "POST", path: "/mutate", body: "patch", wantCode: 200, wantBody: "patch"},
		"handler with wrong method":  {method: "GET", path: "/mutate", wantCode: 405},
		"subtree handler":            {method: "GET", path: "/views/a/b", wantCode: 200, wantBody: "/views/a/b"},
		"unknown path":               {method: "GET", path: "/nope", wantCode: 404, wantBody: "404 page not found"},
		"unknown path under handler": {method: "POST", path: "/validate/x", wantCode: 404},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := do(t.Context(), client, tc.method, rs.url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			if resp.code != tc.wantCode || !strings.Contains(resp.body, tc.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, resp.code, resp.body, tc.wantCode, tc.wantBody)
			}
			if resp.proto != 2 {
				t.Errorf("response protocol HTTP/%d, want HTTP/2", resp.proto)
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	env := newTestEnv(t)
	var notReady atomic.Pointer[error]
	errNotSynced := errors.New("informer caches not synced")
	notReady.Store(&errNotSynced)
	o := env.options()
	o.Ready = func() error {
		if err := notReady.Load(); err != nil {
			return *err
		}
		return nil
	}
	rs := env.start(t, o)
	client := newClient(t, env.ca.pool(), http2)

	if resp := mustGet(t, client, rs.url+"/readyz"); resp.code != 503 || !strings.Contains(resp.body, "informer caches not synced") {
		t.Errorf("/readyz while not ready = %d %q, want 503 with the error text", resp.code, resp.body)
	}
	if resp := mustGet(t, client, rs.url+"/healthz"); resp.code != 200 || resp.body != "ok" {
		t.Errorf("/healthz while not ready = %d %q, want 200 \"ok\"", resp.code, resp.body)
	}
	notReady.Store(nil)
	if resp := mustGet(t, client, rs.url+"/readyz"); resp.code != 200 || resp.body != "ok" {
		t.Errorf("/readyz when ready = %d %q, want 200 \"ok\"", resp.code, resp.body)
	}
}

// unsized hides a reader's length, so that the request is sent without Content-Length
// (chunked on HTTP/1.1, plain DATA frames on HTTP/2).
type unsized struct{ io.Reader }

func TestBodyLimit(t *testing.T) {
	const limit = 1024
	env := newTestEnv(t)
	var handled atomic.Int64
	o := env.options()
	o.MaxRequestBytes = limit
	o.Handlers = map[string]http.Handler{"/validate": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		echo(w, r)
	})}
	rs := env.start(t, o)

	cases := map[string]struct {
		size int
		// undeclared sends the body without Content-Length.
		undeclared  bool
		wantCode    int
		wantBody    string // substring
		wantHandled bool
	}{
		"empty":                      {size: 0, wantCode: 200, wantHandled: true},
		"at the limit":               {size: limit, wantCode: 200, wantBody: "aaaa", wantHandled: true},
		"over the limit":             {size: limit + 1, wantCode: 413, wantBody: "request body too large: 1025 bytes exceeds the limit of 1024 bytes"},
		"far over the limit":         {size: 1 << 20, wantCode: 413, wantBody: "1048576 bytes exceeds the limit of 1024 bytes"},
		"at the limit, undeclared":   {size: limit, undeclared: true, wantCode: 200, wantBody: "aaaa", wantHandled: true},
		"over the limit, undeclared": {size: limit + 1, undeclared: true, wantCode: 413, wantBody: "handler: request body too large", wantHandled: true},
		"far over limit, undeclared": {size: 1 << 20, undeclared: true, wantCode: 413, wantBody: "handler: request body too large", wantHandled: true},
	}
	for _, p := range []protocol{http2, http1} {
		client := newClient(t, env.ca.pool(), p)
		for name, tc := range cases {
			t.Run(p.String()+"/"+name, func(t *testing.T) {
				before := handled.Load()
				var body io.Reader = strings.NewReader(strings.Repeat("a", tc.size))
				if tc.undeclared {
					body = unsized{body}
				}
				resp, err := do(t.Context(), client, http.MethodPost, rs.url+"/validate", body)
				if err != nil {
					t.Fatalf("POST: %v", err)
				}
				if resp.code != tc.wantCode || !strings.Contains(resp.body, tc.wantBody) {
					t.Errorf("POST = %d %q, want %d containing %q", resp.code, resp.body, tc.wantCode, tc.wantBody)
				}
				if got := handled.Load() > before; got != tc.wantHandled {
					t.Errorf("handler called = %t, want %t", got, tc.wantHandled)
				}
			})
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	cases := map[string]struct {
		err  error
		want bool
	}{
		"nil":            {err: nil, want: false},
		"EOF":            {err: io.ErrUnexpectedEOF, want: false},
		"max bytes":      {err: &http.MaxBytesError{Limit: 1}, want: true},
		"wrapped":        {err: fmt.Errorf("reading review: %w", &http.MaxBytesError{Limit: 1}), want: true},
		"same text only": {err: errors.New("http: request body too large"), want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := server.BodyTooLarge(tc.err); got != tc.want {
				t.Errorf("BodyTooLarge(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}

func TestHandlerPanic(t *testing.T) {
	env := newTestEnv(t)
	o := env.options()
	o.Handlers = map[string]http.Handler{
		"/panic": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		"/panic-after-write": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "partial")
			_ = http.NewResponseController(w).Flush()
			panic("late boom")
		}),
		"/validate": http.HandlerFunc(echo),
	}
	rs := env.start(t, o)

	for _, p := range []protocol{http2, http1} {
		t.Run(p.String(), func(t *testing.T) {
			client := newClient(t, env.ca.pool(), p)
			if resp := mustGet(t, client, rs.url+"/panic"); resp.code != 500 || resp.body != "internal server error\n" {
				t.Errorf("GET /panic = %d %q, want 500 \"internal server error\"", resp.code, resp.body)
			}
			// Once the status is out, the response is aborted: the client must not see success.
			if resp, err := do(t.Context(), client, http.MethodGet, rs.url+"/panic-after-write", nil); err == nil {
				t.Errorf("GET /panic-after-write = %d %q, want a failed response", resp.code, resp.body)
			}
			// The server carries on serving.
			if resp := mustGet(t, client, rs.url+"/validate"); resp.code != 200 {
				t.Errorf("GET /validate after panics = %d %q, want 200", resp.code, resp.body)
			}
		})
	}
	for _, want := range []string{"boom", "late boom"} {
		if line := env.logs.find(`"msg"="Handler panicked"`, `"error"="panic: `+want+`"`, `"stack"=`, "recoverPanics"); line == "" {
			t.Errorf("no log line for panic %q with its stack", want)
		}
	}
}

func TestMinTLSVersion(t *testing.T) {
	cases := map[string]struct {
		serverMin      uint16
		clientMax      uint16
		wantHandshake  bool
		wantNegotiated uint16
	}{
		"default accepts TLS 1.3":  {clientMax: tls.VersionTLS13, wantHandshake: true, wantNegotiated: tls.VersionTLS13},
		"default refuses TLS 1.2":  {clientMax: tls.VersionTLS12, wantHandshake: false},
		"TLS 1.2 allowed":          {serverMin: tls.VersionTLS12, clientMax: tls.VersionTLS12, wantHandshake: true, wantNegotiated: tls.VersionTLS12},
		"TLS 1.2 minimum, 1.3 too": {serverMin: tls.VersionTLS12, clientMax: tls.VersionTLS13, wantHandshake: true, wantNegotiated: tls.VersionTLS13},
	}
	env := newTestEnv(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := env.options()
			o.MinTLSVersion = tc.serverMin
			rs := env.start(t, o)
			dialer := &tls.Dialer{Config: &tls.Config{RootCAs: env.ca.pool(), MaxVersion: tc.clientMax, NextProtos: []string{"h2"}}}
			conn, err := dialer.DialContext(t.Context(), "tcp", rs.Addr().String())
			if !tc.wantHandshake {
				if err == nil {
					_ = conn.Close()
					t.Fatalf("handshake with a TLS %s client succeeded, want it refused", tls.VersionName(tc.clientMax))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			state := conn.(*tls.Conn).ConnectionState()
			if state.Version != tc.wantNegotiated || state.NegotiatedProtocol != "h2" {
				t.Errorf("negotiated %s %q, want %s \"h2\"", tls.VersionName(state.Version), state.NegotiatedProtocol, tls.VersionName(tc.wantNegotiated))
			}
		})
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	env := newTestEnv(t)
	other := env.ca.issueServing(t)
	mismatched := plainFiles(t, t.TempDir(), other)
	ok := http.HandlerFunc(echo)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cases := map[string]struct {
		modify  func(o *server.Options)
		wantErr string // substring
	}{
		"no certificate":        {modify: func(o *server.Options) { o.CertFile, o.KeyFile = "", "" }, wantErr: "both a certificate file and a key file are required"},
		"missing file":          {modify: func(o *server.Options) { o.CertFile = o.CertFile + ".missing" }, wantErr: "no such file"},
		"key of another cert":   {modify: func(o *server.Options) { o.KeyFile = mismatched.keyFile }, wantErr: "private key does not match public key"},
		"TLS 1.1":               {modify: func(o *server.Options) { o.MinTLSVersion = tls.VersionTLS11 }, wantErr: "minimum TLS version TLS 1.1 is not supported"},
		"port out of range":     {modify: func(o *server.Options) { o.Port = 70000 }, wantErr: "port 70000 is out of range"},
		"port in use":           {modify: func(o *server.Options) { o.Port = busy.Addr().(*net.TCPAddr).Port }, wantErr: "address already in use"},
		"negative timeout":      {modify: func(o *server.Options) { o.ShutdownTimeout = -1 }, wantErr: "shutdown timeout -1ns is negative"},
		"negative body limit":   {modify: func(o *server.Options) { o.MaxRequestBytes = -1 }, wantErr: "maximum request size -1 is negative"},
		"handler on healthz":    {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"/healthz": ok} }, wantErr: `pattern "/healthz" uses /healthz, which the server serves itself`},
		"method on metrics":     {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"GET /metrics": ok} }, wantErr: "which the server serves itself"},
		"host on readyz":        {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"example.com/readyz": ok} }, wantErr: "which the server serves itself"},
		"nil handler":           {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"/validate": nil} }, wantErr: `handler for pattern "/validate" is nil`},
		"no path":               {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"validate": ok} }, wantErr: "has no path"},
		"bad pattern":           {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"/views/{name": ok} }, wantErr: `registering handler pattern "/views/{name"`},
		"conflicting patterns":  {modify: func(o *server.Options) { o.Handlers = map[string]http.Handler{"/views/{a}": ok, "/views/{b}": ok} }, wantErr: "conflicts with"},
		"several problems kept": {modify: func(o *server.Options) { o.Port, o.MinTLSVersion = -1, tls.VersionTLS10 }, wantErr: "port -1 is out of range 0-65535\nminimum TLS version TLS 1.0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := env.options()
			tc.modify(&o)
			srv, err := server.New(o)
			if err == nil {
				t.Fatalf("New succeeded on %s, want an error containing %q", srv.Addr(), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New error = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunOnlyOnce(t *testing.T) {
	env := newTestEnv(t)
	rs := env.start(t, env.options())
	client := newClient(t, env.ca.pool(), http2)
	// A completed handshake proves the first Run is serving, hence has claimed the server.
	if resp := mustGet(t, client, rs.url+"/healthz"); resp.code != 200 {
		t.Fatalf("/healthz = %d, want 200", resp.code)
	}
	if err := rs.Run(t.Context()); !errors.Is(err, server.ErrAlreadyRun) {
		t.Fatalf("second Run = %v, want ErrAlreadyRun", err)
	}
	// The first Run is unaffected.
	if resp := mustGet(t, client, rs.url+"/healthz"); resp.code != 200 {
		t.Errorf("/healthz after a second Run = %d, want 200", resp.code)
	}
}
