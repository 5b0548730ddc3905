package serve

import (
	"context"
	"sync"

	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/policy"
)

// statusQueue turns inventory changes into status work: every proxy whose status a change
// may alter (see controller.Changes).
type statusQueue struct {
	d       *policy.Decider
	w       *status.Writer
	changes *controller.Changes

	mu  sync.Mutex
	gen map[policy.Key]int64 // HTTPProxy generation last acted on
}

func newStatusQueue(d *policy.Decider, w *status.Writer) *statusQueue {
	return &statusQueue{d: d, w: w, changes: controller.NewChanges(d), gen: map[policy.Key]int64{}}
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
	for _, x := range q.changes.Affected(kind, k) {
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
