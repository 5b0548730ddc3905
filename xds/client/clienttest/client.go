package clienttest

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/projectwarden/warden/xds/client"
)

// waitTimeout bounds the dial and the client's stop; tests normally wait milliseconds.
const waitTimeout = 10 * time.Second

// Dial connects a client with o, closed at the end of the test.
func Dial(t testing.TB, o client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// Run runs c, logging to t, until the end of the test, when it checks that Run returned
// nil.
func Run(t testing.TB, c *client.Client) {
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testr.NewWithInterface(t, testr.Options{})))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after its context was cancelled")
		}
	})
}
