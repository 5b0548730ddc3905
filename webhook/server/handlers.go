package server

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BodyTooLarge reports whether err, returned while reading a request body, means the body
// exceeded Options.MaxRequestBytes. Handlers answer such requests with 413:
//
//	body, err := io.ReadAll(r.Body)
//	if server.BodyTooLarge(err) {
//		http.Error(w, "request body too large: ...", http.StatusRequestEntityTooLarge)
//		return
//	}
func BodyTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// newHandler builds the server's handler: panic recovery around the body limit around a
// ServeMux holding the server's own paths and o.Handlers. o must be defaulted and valid.
func newHandler(o Options) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc(HealthzPath, serveHealthz)
	mux.HandleFunc(ReadyzPath, readyzHandler(o.Ready))
	mux.Handle(MetricsPath, metricsHandler(o.Registry))
	// Sorted so that the first conflict reported is the same on every run.
	for _, pattern := range slices.Sorted(maps.Keys(o.Handlers)) {
		if err := register(mux, pattern, o.Handlers[pattern]); err != nil {
			return nil, err
		}
	}
	return recoverPanics(limitBody(o.MaxRequestBytes, mux)), nil
}

// register adds pattern to mux, turning ServeMux's panic on an invalid or conflicting
// pattern into an error, which is what a bad configuration deserves.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("registering handler pattern %q: %v", pattern, v)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// serveHealthz answers liveness probes: serving at all is what it reports.
func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeOK(w)
}

// readyzHandler answers readiness probes with ready's verdict; nil ready means always ready.
func readyzHandler(ready func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				logr.FromContextOrDiscard(r.Context()).V(1).Info("Not ready", "reason", err.Error())
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		writeOK(w)
	}
}

// writeOK writes a 200 "ok" plain-text response.
func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, "ok")
}

// metricsHandler serves registry. Collection errors are logged with the scrape's logger and
// the metrics that could be gathered are still served.
func metricsHandler(registry *prometheus.Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
			ErrorLog:      promErrorLog{logr.FromContextOrDiscard(r.Context())},
			ErrorHandling: promhttp.ContinueOnError,
		})
		h.ServeHTTP(w, r)
	})
}

// promErrorLog adapts a logr.Logger to promhttp's Logger interface.
type promErrorLog struct{ log logr.Logger }

// Println logs a metrics collection error.
func (l promErrorLog) Println(v ...any) {
	l.log.Error(errors.New(strings.TrimSpace(fmt.Sprintln(v...))), "Gathering metrics failed")
}

// limitBody answers 413 to requests that declare a body larger than limit, and caps the body
// of the others at limit so that handlers reading past it get an error BodyTooLarge accepts.
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			logr.FromContextOrDiscard(r.Context()).V(1).Info("Request body too large",
				"method", r.Method, "path", r.URL.Path, "contentLength", r.ContentLength, "limit", limit)
			http.Error(w, fmt.Sprintf("request body too large: %d bytes exceeds the limit of %d bytes",
				r.ContentLength, limit), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler's panic into a logged error and a 500, so that one bad
// request neither crashes the process nor leaves its client with a bare connection reset.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				// The documented way for a handler to abort a response; net/http compares the
				// value itself and handles it quietly, so pass it on unchanged.
				panic(v)
			}
			logr.FromContextOrDiscard(r.Context()).Error(fmt.Errorf("panic: %v", v), "Handler panicked",
				"method", r.Method, "path", r.URL.Path, "stack", string(debug.Stack()))
			if rw.wroteHeader {
				// The status line is already out: a 500 cannot follow it. Abort the response
				// (connection closed, or HTTP/2 stream reset) so that the client sees a failure
				// rather than a truncated body that might look complete.
				panic(http.ErrAbortHandler)
			}
			http.Error(rw, "internal server error", http.StatusInternalServerError)
		}()
		next.ServeHTTP(rw, r)
	})
}

// responseWriter records whether the response has started, for recoverPanics.
type responseWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

// WriteHeader records that a final (non-1xx) status was sent.
func (w *responseWriter) WriteHeader(code int) {
	if code >= http.StatusOK {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records that the response has started.
func (w *responseWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(p)
}

// Flush sends buffered data to the client; it keeps http.Flusher working for handlers that
// assert it directly rather than through http.NewResponseController.
func (w *responseWriter) Flush() {
	w.wroteHeader = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.NewResponseController reach the underlying writer (deadlines, Hijack).
func (w *responseWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}
