package shutdown

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
)

func TestShutdownAnswersOnceOpenConnectionsReachTheMinimum(t *testing.T) {
	cases := map[string]struct {
		counts    []int
		min       int
		wantPolls int
		wantBody  string
	}{
		"connections close down to none": {
			counts: []int{7, 4, 1, 0}, wantPolls: 4, wantBody: "Envoy drained: 0 open connections\n",
		},
		"connections close down to the minimum": {
			counts: []int{7, 4, 2, 1}, min: 2, wantPolls: 3, wantBody: "Envoy drained: 2 open connections\n",
		},
		"no connection open at the first check": {
			counts: []int{0}, wantPolls: 1, wantBody: "Envoy drained: 0 open connections\n",
		},
		"a failed stats read is retried": {
			counts: []int{5, unavailable, 0}, wantPolls: 3, wantBody: "Envoy drained: 0 open connections\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			envoy := startFakeEnvoy(t, tc.counts...)
			o := testOptions(envoy.socket)
			o.MinOpenConnections = tc.min
			_, url := startManager(t, o)

			got := get(url + ShutdownPath)
			if got.err != nil || got.status != http.StatusOK || got.body != tc.wantBody {
				t.Fatalf("GET /shutdown: got %d %q (error %v), want 200 %q", got.status, got.body, got.err, tc.wantBody)
			}
			// No stats read after the answer: the drain ended with the check that answered.
			time.Sleep(5 * o.CheckInterval)
			events := envoy.received()
			want := append([]string{"healthcheck/fail"}, slices.Repeat([]string{"stats"}, tc.wantPolls)...)
			if diff := cmp.Diff(want, names(events)); diff != "" {
				t.Fatalf("admin requests (-want +got):\n%s", diff)
			}
			if delay := events[1].at.Sub(events[0].at); delay < o.CheckDelay {
				t.Errorf("first stats read %s after failing health checks, want at least the check delay %s", delay, o.CheckDelay)
			}
			if last := events[len(events)-1].at; got.at.Before(last) {
				t.Errorf("/shutdown answered before the last stats read")
			}
			for _, f := range envoy.filters {
				if f != `^http\..*\.downstream_cx_active$` {
					t.Errorf("stats read with filter %q", f)
				}
			}
		})
	}
}

func TestShutdownAnswersAtTheDrainTimeoutWithConnectionsStillOpen(t *testing.T) {
	envoy := startFakeEnvoy(t, 9, 6, 5)
	o := testOptions(envoy.socket)
	o.DrainTimeout = 300 * time.Millisecond
	m, url := startManager(t, o)

	start := time.Now()
	got := get(url + ShutdownPath)
	elapsed := time.Since(start)
	if got.err != nil || got.status != http.StatusOK || !strings.Contains(got.body, "Envoy not fully drained") ||
		!strings.Contains(got.body, "5 connections open") {
		t.Errorf("GET /shutdown: got %d %q (error %v), want 200 saying 5 connections are still open", got.status, got.body, got.err)
	}
	if elapsed < o.DrainTimeout || elapsed > o.DrainTimeout+2*time.Second {
		t.Errorf("/shutdown answered after %s, want just after the drain timeout %s", elapsed, o.DrainTimeout)
	}
	if err := m.Drain(t.Context()); !errors.Is(err, ErrDrainTimeout) {
		t.Errorf("Drain: got %v, want ErrDrainTimeout", err)
	}
	if n := len(envoy.received()); n < 3 {
		t.Errorf("Envoy received %d admin requests, want health checks failed and stats read until the timeout", n)
	}
}

func TestShutdownWithoutEnvoyAdminAnswersWithAClearError(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "admin.sock")
	m, url := startManager(t, testOptions(socket))

	got := get(url + ShutdownPath)
	for _, want := range []string{"Envoy not drained", "failing Envoy's health checks through its admin socket " + socket, "(4 attempts)", "no such file or directory"} {
		if !strings.Contains(got.body, want) {
			t.Errorf("GET /shutdown body %q does not say %q", got.body, want)
		}
	}
	if got.status != http.StatusInternalServerError {
		t.Errorf("GET /shutdown: status %d, want 500", got.status)
	}
	if err := m.Drain(t.Context()); err == nil || !strings.Contains(err.Error(), socket) {
		t.Errorf("Drain: got %v, want the error naming the admin socket", err)
	}
}

func TestStoppingDrainsEnvoyOnceAndAnswersPendingShutdownRequests(t *testing.T) {
	envoy := startFakeEnvoy(t, 4, 2, 0)
	o := testOptions(envoy.socket)
	// Long enough for both requests below to reach the Manager while it drains.
	o.CheckDelay = 300 * time.Millisecond
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(t.Context(), testr.New(t)))
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	// Kubernetes runs Envoy's preStop hook and sends this container SIGTERM together.
	answers := make(chan answer, 2)
	go func() { answers <- get("http://" + m.Addr().String() + ShutdownPath) }()
	cancel()
	go func() { answers <- get("http://" + m.Addr().String() + ShutdownPath) }()

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	drained := envoy.received()
	if diff := cmp.Diff([]string{"healthcheck/fail", "stats", "stats", "stats"}, names(drained)); diff != "" {
		t.Fatalf("Run returned before the one drain completed; admin requests (-want +got):\n%s", diff)
	}
	// The Manager keeps serving while it drains: both requests are answered, once the drain
	// is over.
	for range 2 {
		if a := <-answers; a.err != nil || a.status != http.StatusOK || a.at.Before(drained[len(drained)-1].at) {
			t.Errorf("/shutdown answered %d %q (error %v) at %s, want 200 after the drain", a.status, a.body, a.err, a.at)
		}
	}
}

func TestHealthzAnswersOK(t *testing.T) {
	_, url := startManager(t, testOptions(filepath.Join(t.TempDir(), "admin.sock")))
	got := get(url + HealthzPath)
	if got.err != nil || got.status != http.StatusOK || got.body != "ok\n" {
		t.Errorf("GET /healthz: got %d %q (error %v), want 200 ok", got.status, got.body, got.err)
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	cases := map[string]struct {
		o    Options
		want string
	}{
		"relative admin socket":    {Options{AdminSocket: "admin.sock"}, `admin socket "admin.sock" must be an absolute path`},
		"negative minimum":         {Options{MinOpenConnections: -1}, "minimum open connections -1 is negative"},
		"negative check interval":  {Options{CheckInterval: -time.Second}, "check interval -1s is negative"},
		"address that cannot bind": {Options{Address: "127.0.0.1:-1"}, "listening on 127.0.0.1:-1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := New(tc.o)
			if err == nil {
				_ = m.listener.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
