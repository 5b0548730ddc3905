package status

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/projectwarden/warden/policy"
)

var (
	then = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now  = metav1.NewTime(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
)

// valid and orphaned are statuses as the Decider computes them (no transition time).
func valid(gen int64) contourv1.HTTPProxyStatus {
	return contourv1.HTTPProxyStatus{
		CurrentStatus: "valid", Description: "Valid HTTPProxy",
		Conditions: []contourv1.DetailedCondition{{Condition: metav1.Condition{
			Type: "Valid", Status: metav1.ConditionTrue, Reason: "Valid", Message: "Valid HTTPProxy", ObservedGeneration: gen,
		}}},
	}
}

func orphaned(gen int64) contourv1.HTTPProxyStatus {
	dc := contourv1.DetailedCondition{Condition: metav1.Condition{
		Type: "Valid", Status: metav1.ConditionTrue, Reason: "Valid", Message: "Valid HTTPProxy", ObservedGeneration: gen,
	}}
	dc.AddError("Orphaned", "Orphaned", "this HTTPProxy is not part of a delegation chain from a root HTTPProxy")
	return contourv1.HTTPProxyStatus{
		CurrentStatus: "orphaned", Description: "this HTTPProxy is not part of a delegation chain from a root HTTPProxy",
		Conditions: []contourv1.DetailedCondition{dc},
	}
}

// at sets the transition time of every condition.
func at(s contourv1.HTTPProxyStatus, ts metav1.Time) contourv1.HTTPProxyStatus {
	for i := range s.Conditions {
		s.Conditions[i].LastTransitionTime = ts
	}
	return s
}

func proxy(gen int64, s contourv1.HTTPProxyStatus) *contourv1.HTTPProxy {
	return &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Generation: gen}, Status: s}
}

func TestDesiredStatus(t *testing.T) {
	lb := corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}}
	withLB := func(s contourv1.HTTPProxyStatus) contourv1.HTTPProxyStatus { s.LoadBalancer = lb; return s }
	withEmptyLists := func(s contourv1.HTTPProxyStatus) contourv1.HTTPProxyStatus {
		s.Conditions[0].Errors, s.Conditions[0].Warnings = []contourv1.SubCondition{}, []contourv1.SubCondition{}
		return s
	}
	cases := map[string]struct {
		stored  *contourv1.HTTPProxy
		judged  contourv1.HTTPProxyStatus
		want    contourv1.HTTPProxyStatus
		outcome outcome
	}{
		"no status yet: written, transition now": {
			stored: proxy(1, contourv1.HTTPProxyStatus{}), judged: valid(1),
			want: at(valid(1), now), outcome: write,
		},
		"same status: unchanged, transition kept": {
			stored: proxy(1, at(valid(1), then)), judged: valid(1),
			want: at(valid(1), then), outcome: unchanged,
		},
		"empty and absent sub-condition lists are the same": {
			stored: proxy(1, at(valid(1), then)), judged: withEmptyLists(valid(1)),
			want: at(withEmptyLists(valid(1)), then), outcome: unchanged,
		},
		"new generation, same condition status: written, transition kept": {
			stored: proxy(2, at(valid(1), then)), judged: valid(2),
			want: at(valid(2), then), outcome: write,
		},
		"condition status changes: written, transition now": {
			stored: proxy(1, at(orphaned(1), then)), judged: valid(1),
			want: at(valid(1), now), outcome: write,
		},
		"load balancer status is kept": {
			stored: proxy(1, withLB(at(orphaned(1), then))), judged: valid(1),
			want: withLB(at(valid(1), now)), outcome: write,
		},
		"the Decider judged an older generation than the one read: stale": {
			stored: proxy(3, at(valid(2), then)), judged: valid(2),
			outcome: stale,
		},
		"the Decider judged a newer generation than the one read: stale": {
			stored: proxy(2, at(valid(2), then)), judged: orphaned(3),
			outcome: stale,
		},
		"the stored status describes a newer generation: superseded": {
			stored: proxy(2, at(valid(3), then)), judged: orphaned(2),
			outcome: superseded,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			stored := tc.stored.DeepCopy()
			got, o := desiredStatus(tc.stored, &policy.Verdict{Status: tc.judged}, now)
			if o != tc.outcome {
				t.Errorf("outcome = %v, want %v", o, tc.outcome)
			}
			if o == write || o == unchanged {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(stored, tc.stored); diff != "" {
				t.Errorf("stored proxy modified (-before +after):\n%s", diff)
			}
		})
	}
}
