package controller

import (
	"context"
	"sync"
	"time"
)

// readGate counts the background Secret reads in flight, so that less urgent API requests
// (status writes) can hold back while a TLS vhost waits for its certificate: those reads
// queue in the API server behind whatever else Warden sends it, and at the end of a bulk
// create of TLS roots that is thousands of status writes.
type readGate struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n is 0
}

func newReadGate() *readGate {
	g := &readGate{idle: make(chan struct{})}
	close(g.idle)
	return g
}

// start records a read that began; the returned function records its end.
func (g *readGate) start() (done func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		g.idle = make(chan struct{})
	}
	g.n++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.n--; g.n == 0 {
				close(g.idle)
			}
		})
	}
}

// wait returns once no read is in flight, after max at most, or when ctx is done.
func (g *readGate) wait(ctx context.Context, max time.Duration) {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return
	default:
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-ctx.Done():
	}
}
