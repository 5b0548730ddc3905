package serve

import (
	"context"
	"sync"

	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/policy"
)

// statusQueue turns inventory changes into status work: every proxy whose status a change
// may alter. It remembers, per changed object, which proxies its last change related to, so
// that proxies a change detaches (an include removed, a delegation narrowed) are re-judged
// too: the inventory no longer shows those edges.
type statusQueue struct {
	d *policy.Decider
	w *status.Writer

	mu   sync.Mutex
	last map[string][]policy.Key // kind/key -> proxies related last time
	gen  map[policy.Key]int64    // HTTPProxy generation last acted on
}

func newStatusQueue(d *policy.Decider, w *status.Writer) *statusQueue {
	return &statusQueue{d: d, w: w, last: map[string][]policy.Key{}, gen: map[policy.Key]int64{}}
}

// onApplied is the feed's callback. HTTPProxy updates that leave the generation alone
// (status writes, labels) are ignored: the writer's own writes come back as such updates.
// Namespaces (whose labels feed admin policies) and DelegationPolicies can alter any
// verdict: everything is re-judged.
func (q *statusQueue) onApplied(ctx context.Context, kind string, k policy.Key) {
	switch kind {
	case "Namespace", "DelegationPolicy":
		go q.w.ResyncAll(ctx)
		return
	case policy.KindHTTPProxy:
		var g int64 = -1
		if p := q.d.Inventory().Proxy(k); p != nil {
			g = p.Generation
		}
		if !q.newGeneration(k, g) {
			return
		}
	}
	keys := q.d.Related(kind, k)
	for _, x := range q.swap(kind+"/"+k.String(), keys) {
		q.w.Enqueue(x)
	}
}

func (q *statusQueue) newGeneration(k policy.Key, g int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	old, seen := q.gen[k]
	if g < 0 {
		delete(q.gen, k)
		return true
	}
	q.gen[k] = g
	return !seen || old != g
}

// swap records keys for id and returns them together with the previous ones.
func (q *statusQueue) swap(id string, keys []policy.Key) []policy.Key {
	q.mu.Lock()
	defer q.mu.Unlock()
	prev := q.last[id]
	q.last[id] = keys
	return append(append([]policy.Key{}, keys...), prev...)
}
