package controller

import (
	"strings"
	"sync"

	"github.com/projectwarden/warden/policy"
)

// Changes turns one inventory change into the HTTPProxies whose verdicts it may alter:
// what policy.Decider.Related finds now, plus what it found for the same object last time,
// because edges a change removed (an include dropped, a delegation narrowed) are no longer
// in the inventory, plus the trees of the other roots that claimed a root's fqdn when the
// root gives it up (deleted, or moved to another fqdn): the next claimant becomes its owner,
// and it may have appeared after the root's own last change. Safe for concurrent use.
type Changes struct {
	d    *policy.Decider
	mu   sync.Mutex
	last map[string][]policy.Key // kind/key -> proxies related last time
	// fqdnOf and claimants index the roots' fqdns (lower-cased) as last seen here.
	fqdnOf    map[policy.Key]string
	claimants map[string]map[policy.Key]bool
}

// NewChanges returns a Changes over d.
func NewChanges(d *policy.Decider) *Changes {
	return &Changes{d: d, last: map[string][]policy.Key{}, fqdnOf: map[policy.Key]string{},
		claimants: map[string]map[policy.Key]bool{}}
}

// Affected returns the proxies to re-judge after a change of (kind, k).
func (c *Changes) Affected(kind string, k policy.Key) []policy.Key {
	keys := c.d.Related(kind, k)
	id := kind + "/" + k.String()
	var others []policy.Key
	if kind == policy.KindHTTPProxy {
		others = c.claimFQDN(k)
	}
	c.mu.Lock()
	prev := c.last[id]
	c.last[id] = keys
	c.mu.Unlock()
	out := append(append([]policy.Key{}, keys...), prev...)
	for _, r := range others {
		out = append(out, c.d.Related(policy.KindHTTPProxy, r)...)
	}
	return out
}

// claimFQDN records the fqdn the proxy k now claims and returns the other roots that
// claimed the fqdn it gave up, if it gave one up.
func (c *Changes) claimFQDN(k policy.Key) []policy.Key {
	fqdn := ""
	if p := c.d.Inventory().Proxy(k); p != nil && p.Spec.VirtualHost != nil {
		fqdn = strings.ToLower(p.Spec.VirtualHost.Fqdn)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.fqdnOf[k]
	if old == fqdn {
		return nil
	}
	var others []policy.Key
	if m := c.claimants[old]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(c.claimants, old)
		}
		for r := range m {
			others = append(others, r)
		}
	}
	delete(c.fqdnOf, k)
	if fqdn != "" {
		c.fqdnOf[k] = fqdn
		if c.claimants[fqdn] == nil {
			c.claimants[fqdn] = map[policy.Key]bool{}
		}
		c.claimants[fqdn][k] = true
	}
	return others
}
