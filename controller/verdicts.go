package controller

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/projectwarden/warden/policy"
)

// Verdicts remembers policy.Decider.Judge's verdicts until a change may alter them, so that
// the routing pipeline and the status writer, which are told about the same changes, judge
// each proxy once between two changes instead of once each. Rego evaluation is most of a
// judgement, and both consumers re-judge the same proxies after every change (at start,
// every stored proxy).
//
// Correctness rests on the invalidations: whoever feeds the consumers must Invalidate the
// proxies a change affects (Changes.Affected) before it enqueues them, and InvalidateAll
// after a change whose effects it cannot tell. A judgement that was under way when its
// proxy was invalidated is handed to the callers that were waiting for it, never kept.
//
// Verdicts is safe for concurrent use. Concurrent Judge calls for one proxy share one
// evaluation.
type Verdicts struct {
	judge func(ctx context.Context, k policy.Key) (*policy.Verdict, error)

	mu      sync.Mutex
	entries map[policy.Key]*verdictEntry

	judged, hits atomic.Uint64
}

// verdictEntry is one judgement, done or under way.
type verdictEntry struct {
	done chan struct{} // closed once v and err are set
	v    *policy.Verdict
	err  error
}

// NewVerdicts returns an empty cache in front of judge (policy.Decider.Judge).
func NewVerdicts(judge func(ctx context.Context, k policy.Key) (*policy.Verdict, error)) *Verdicts {
	return &Verdicts{judge: judge, entries: map[policy.Key]*verdictEntry{}}
}

// Judge returns the verdict on k: the remembered one if k was not invalidated since it
// was judged, else a new judgement. Like policy.Decider.Judge it returns nil for a proxy
// the Decider does not know. Errors are not remembered. The verdict is shared: callers
// must not modify it.
func (c *Verdicts) Judge(ctx context.Context, k policy.Key) (*policy.Verdict, error) {
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		e = &verdictEntry{done: make(chan struct{})}
		c.entries[k] = e
		c.mu.Unlock()
		e.v, e.err = c.judge(ctx, k)
		close(e.done)
		c.judged.Add(1)
		if e.err != nil || e.v == nil {
			c.forget(k, e) // errors are not kept, nor the absence of a proxy (cheap to find)
		}
		return e.v, e.err
	}
	c.mu.Unlock()
	c.hits.Add(1)
	select {
	case <-e.done:
		return e.v, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops k's entry if it is still e.
func (c *Verdicts) forget(k policy.Key, e *verdictEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] == e {
		delete(c.entries, k)
	}
}

// Invalidate forgets the verdicts on keys: the next Judge of each judges anew.
func (c *Verdicts) Invalidate(keys ...policy.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.entries, k)
	}
}

// InvalidateAll forgets every verdict.
func (c *Verdicts) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[policy.Key]*verdictEntry{}
}

// Stats returns how many Judge calls judged and how many were answered from the cache
// (or shared a judgement under way), since the cache was made.
func (c *Verdicts) Stats() (judged, hits uint64) { return c.judged.Load(), c.hits.Load() }

// Len returns how many verdicts are remembered or under way.
func (c *Verdicts) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
