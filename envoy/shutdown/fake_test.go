package shutdown

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
)

// unavailable, in a fakeEnvoy's counts, makes that stats request fail with a 503.
const unavailable = -1

// event is a request received by a fakeEnvoy.
type event struct {
	what string
	at   time.Time
}

// fakeEnvoy is Envoy's admin interface on a unix socket: it accepts /healthcheck/fail and
// serves Prometheus stats in Envoy's format (testdata/stats.prom.tmpl) whose open
// connections follow counts, one entry per stats request, the last one repeating.
type fakeEnvoy struct {
	socket string
	stats  *template.Template

	mu      sync.Mutex
	counts  []int
	events  []event
	filters []string
}

// startFakeEnvoy serves a fakeEnvoy until the end of the test.
func startFakeEnvoy(t *testing.T, counts ...int) *fakeEnvoy {
	t.Helper()
	stats, err := template.ParseFiles(filepath.Join("testdata", "stats.prom.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir can exceed the 108 bytes a unix socket path may have.
	dir, err := os.MkdirTemp("", "envoy-admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := &fakeEnvoy{socket: filepath.Join(dir, "admin.sock"), stats: stats, counts: counts}
	listener, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /healthcheck/fail", func(w http.ResponseWriter, _ *http.Request) {
		f.record("healthcheck/fail")
		_, _ = w.Write([]byte("OK\n"))
	})
	mux.HandleFunc("GET /stats/prometheus", f.serveStats)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(listener) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// serveStats serves the next count of open connections, split between the ingress_http and
// ingress_https connection managers.
func (f *fakeEnvoy) serveStats(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := f.counts[0]
	if len(f.counts) > 1 {
		f.counts = f.counts[1:]
	}
	f.filters = append(f.filters, r.URL.Query().Get("filter"))
	f.mu.Unlock()
	f.record("stats")
	if n == unavailable {
		http.Error(w, "no stats yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_ = f.stats.Execute(w, struct{ HTTP, HTTPS int }{HTTP: n / 2, HTTPS: n - n/2})
}

func (f *fakeEnvoy) record(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event{what: what, at: time.Now()})
}

// received returns the requests received so far.
func (f *fakeEnvoy) received() []event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event(nil), f.events...)
}

// names returns the names of events.
func names(events []event) []string {
	var n []string
	for _, e := range events {
		n = append(n, e.what)
	}
	return n
}

// testOptions are fast Options for a Manager of the Envoy whose admin socket is socket.
func testOptions(socket string) Options {
	return Options{
		Address:         "127.0.0.1:0",
		AdminSocket:     socket,
		CheckDelay:      50 * time.Millisecond,
		CheckInterval:   10 * time.Millisecond,
		AdminRetryDelay: time.Millisecond,
		DrainTimeout:    5 * time.Second,
	}
}

// startManager runs a Manager with o until the end of the test, and returns it and its base
// URL. At the end of the test it checks that Run returned nil.
func startManager(t *testing.T, o Options) (*Manager, string) {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(t.Context(), testr.New(t)))
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after its context was cancelled")
		}
	})
	return m, "http://" + m.Addr().String()
}

// answer is an HTTP response, read whole.
type answer struct {
	status int
	body   string
	at     time.Time
	err    error
}

// get requests url and returns the answer.
func get(url string) answer {
	resp, err := http.Get(url)
	if err != nil {
		return answer{err: err, at: time.Now()}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err, at: time.Now()}
	}
	return answer{status: resp.StatusCode, body: string(body), at: time.Now()}
}
