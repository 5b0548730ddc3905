package controller

import (
	"context"
	"testing"
	"time"
)

func TestReadGate(t *testing.T) {
	waited := func(g *readGate, max time.Duration) <-chan struct{} {
		ch := make(chan struct{})
		go func() {
			g.wait(context.Background(), max)
			close(ch)
		}()
		return ch
	}
	returns := func(t *testing.T, ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("wait did not return %s", what)
		}
	}

	t.Run("no_read_in_flight_does_not_wait", func(t *testing.T) {
		returns(t, waited(newReadGate(), time.Hour), "with no read in flight")
	})
	t.Run("waits_until_the_reads_end", func(t *testing.T) {
		g := newReadGate()
		first, second := g.start(), g.start()
		ch := waited(g, time.Hour)
		first()
		first() // twice counts once
		time.Sleep(20 * time.Millisecond)
		select {
		case <-ch:
			t.Fatal("wait returned while a read was in flight")
		default:
		}
		second()
		returns(t, ch, "once the reads ended")
		returns(t, waited(g, time.Hour), "after the reads ended")
	})
	t.Run("waits_at_most_max", func(t *testing.T) {
		g := newReadGate()
		defer g.start()()
		returns(t, waited(g, time.Millisecond), "after max")
	})
	t.Run("returns_when_ctx_is_done", func(t *testing.T) {
		g := newReadGate()
		defer g.start()()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ch := make(chan struct{})
		go func() { g.wait(ctx, time.Hour); close(ch) }()
		returns(t, ch, "when ctx was done")
	})
}
