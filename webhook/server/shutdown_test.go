package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/projectwarden/warden/webhook/server"
)

// slowHandler blocks each request until release is closed, telling started when one arrives.
type slowHandler struct {
	started chan struct{}
	release chan struct{}
}

// newSlowHandler returns a handler that holds its request until the test releases it.
func newSlowHandler(t *testing.T) *slowHandler {
	h := &slowHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	// A handler still blocked when the test ends would outlive it.
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	})
	return h
}

// ServeHTTP blocks until released, then answers "done" unless the request was cancelled.
func (h *slowHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- struct{}{}
	<-h.release
	if err := r.Context().Err(); err != nil {
		http.Error(w, "request context: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, "done")
}

func TestRunDrainsInFlightRequests(t *testing.T) {
	for _, p := range []protocol{http2, http1} {
		t.Run(p.String(), func(t *testing.T) {
			env := newTestEnv(t)
			slow := newSlowHandler(t)
			o := env.options()
			o.Handlers = map[string]http.Handler{"/slow": slow}
			rs := env.start(t, o)
			client := newClient(t, env.ca.pool(), p)

			type result struct {
				resp response
				err  error
			}
			results := make(chan result, 1)
			go func() {
				resp, err := do(context.WithoutCancel(t.Context()), client, http.MethodGet, rs.url+"/slow", nil)
				results <- result{resp, err}
			}()
			waitFor(t, slow.started, "the slow request to reach its handler")

			rs.cancel()
			// The listener closes first: new connections are refused while the request runs.
			waitUntil(t, "the listener to close", func() bool {
				conn, err := net.DialTimeout("tcp", rs.Addr().String(), time.Second)
				if err == nil {
					_ = conn.Close()
				}
				return err != nil
			})
			select {
			case <-rs.done:
				t.Fatalf("Run returned (%v) while a request was in flight", rs.err)
			default:
			}

			close(slow.release)
			select {
			case r := <-results:
				if r.err != nil || r.resp.code != 200 || r.resp.body != "done" {
					t.Errorf("in-flight request = %d %q, %v; want 200 \"done\"", r.resp.code, r.resp.body, r.err)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("in-flight request did not complete within %s", waitTimeout)
			}
			if err := rs.wait(t); err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		})
	}
}

func TestRunDrainTimeout(t *testing.T) {
	env := newTestEnv(t)
	slow := newSlowHandler(t)
	o := env.options()
	o.Handlers = map[string]http.Handler{"/slow": slow}
	o.ShutdownTimeout = 200 * time.Millisecond
	srv, err := server.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(t.Context(), env.logs.logger))
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	client := newClient(t, env.ca.pool(), http2)
	requestDone := make(chan error, 1)
	go func() {
		_, err := do(context.WithoutCancel(t.Context()), client, http.MethodGet, "https://"+srv.Addr().String()+"/slow", nil)
		requestDone <- err
	}()
	waitFor(t, slow.started, "the slow request to reach its handler")

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want an error wrapping context.DeadlineExceeded", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %s although the drain timeout is %s", waitTimeout, o.ShutdownTimeout)
	}
	// The connection left over was closed: the client sees a failure, not a hang.
	select {
	case err := <-requestDone:
		if err == nil {
			t.Error("request cut off by the drain timeout succeeded, want an error")
		}
	case <-time.After(waitTimeout):
		t.Fatalf("request cut off by the drain timeout still pending after %s", waitTimeout)
	}
}

// waitFor waits for a value on ch, failing the test after waitTimeout.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
	}
}

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
