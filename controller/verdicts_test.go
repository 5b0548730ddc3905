package controller_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/policy"
)

// countingJudge returns a new verdict per call, so that callers can tell judgements apart.
type countingJudge struct {
	calls atomic.Int64
	// during, if set, runs inside the judgement.
	during func()
}

func (j *countingJudge) judge(_ context.Context, k policy.Key) (*policy.Verdict, error) {
	j.calls.Add(1)
	if j.during != nil {
		j.during()
	}
	if k.Name == "absent" {
		return nil, nil
	}
	return &policy.Verdict{Key: k}, nil
}

func TestVerdicts_remembersUntilInvalidated(t *testing.T) {
	j := &countingJudge{}
	c := controller.NewVerdicts(j.judge)
	a, b := policy.Key{Namespace: "ns", Name: "a"}, policy.Key{Namespace: "ns", Name: "b"}
	v1, _ := c.Judge(t.Context(), a)
	v2, _ := c.Judge(t.Context(), a)
	if v1 != v2 || j.calls.Load() != 1 {
		t.Fatalf("second Judge judged again (%d calls) or returned another verdict", j.calls.Load())
	}
	c.Invalidate(b)
	if v, _ := c.Judge(t.Context(), a); v != v1 {
		t.Error("invalidating another proxy dropped the verdict")
	}
	c.Invalidate(a)
	if v, _ := c.Judge(t.Context(), a); v == v1 || j.calls.Load() != 2 {
		t.Errorf("after Invalidate, Judge returned the old verdict (%d calls)", j.calls.Load())
	}
	c.InvalidateAll()
	if c.Len() != 0 {
		t.Errorf("Len after InvalidateAll = %d", c.Len())
	}
	c.Judge(t.Context(), policy.Key{Namespace: "ns", Name: "absent"})
	if c.Len() != 0 {
		t.Error("the absence of a proxy was remembered")
	}
	if judged, hits := c.Stats(); judged != 3 || hits != 2 {
		t.Errorf("Stats = %d judged, %d hits; want 3, 2", judged, hits)
	}
}

// TestVerdicts_invalidatedWhileJudging: a judgement under way when its proxy is invalidated
// may predate the change; it is returned to its caller but not kept.
func TestVerdicts_invalidatedWhileJudging(t *testing.T) {
	a := policy.Key{Namespace: "ns", Name: "a"}
	var c *controller.Verdicts
	j := &countingJudge{}
	var once sync.Once
	j.during = func() { once.Do(func() { c.Invalidate(a) }) }
	c = controller.NewVerdicts(j.judge)
	first, _ := c.Judge(t.Context(), a)
	second, _ := c.Judge(t.Context(), a)
	if first == second || j.calls.Load() != 2 {
		t.Errorf("the verdict judged across an invalidation was kept (%d calls)", j.calls.Load())
	}
}

// TestVerdicts_concurrentCallersShareOneJudgement: callers asking for the same proxy while
// it is being judged wait for that judgement.
func TestVerdicts_concurrentCallersShareOneJudgement(t *testing.T) {
	a := policy.Key{Namespace: "ns", Name: "a"}
	release := make(chan struct{})
	entered := make(chan struct{})
	j := &countingJudge{during: func() { close(entered); <-release }}
	c := controller.NewVerdicts(j.judge)
	results := make(chan *policy.Verdict, 2)
	go func() { v, _ := c.Judge(t.Context(), a); results <- v }()
	<-entered
	go func() { v, _ := c.Judge(t.Context(), a); results <- v }()
	close(release)
	if v1, v2 := <-results, <-results; v1 != v2 {
		t.Error("concurrent callers got different verdicts")
	}
	if j.calls.Load() != 1 {
		t.Errorf("%d judgements, want 1", j.calls.Load())
	}
}
