package controller

import (
	"sync"

	"github.com/projectwarden/warden/policy"
)

// Changes turns one inventory change into the HTTPProxies whose verdicts it may alter:
// what policy.Decider.Related finds now, plus what it found for the same object last time,
// because edges a change removed (an include dropped, a delegation narrowed) are no longer
// in the inventory. Safe for concurrent use.
type Changes struct {
	d    *policy.Decider
	mu   sync.Mutex
	last map[string][]policy.Key // kind/key -> proxies related last time
}

// NewChanges returns a Changes over d.
func NewChanges(d *policy.Decider) *Changes {
	return &Changes{d: d, last: map[string][]policy.Key{}}
}

// Affected returns the proxies to re-judge after a change of (kind, k).
func (c *Changes) Affected(kind string, k policy.Key) []policy.Key {
	keys := c.d.Related(kind, k)
	id := kind + "/" + k.String()
	c.mu.Lock()
	prev := c.last[id]
	c.last[id] = keys
	c.mu.Unlock()
	return append(append([]policy.Key{}, keys...), prev...)
}
