package status

import (
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/projectwarden/warden/policy"
)

// validType is the condition Warden writes, as Contour does: Valid, positive polarity. Its
// ObservedGeneration says which generation of the spec a status describes.
const validType = "Valid"

// outcome is what a pass over one proxy decided to do.
type outcome int

const (
	// write: the stored status differs from the computed one.
	write outcome = iota
	// unchanged: the stored status is the computed one; nothing to write.
	unchanged
	// stale: the Decider judged another generation of the spec than the object read, so
	// its status does not describe that object. Try again once the two agree.
	stale
	// superseded: the stored status describes a newer generation than the one judged (it
	// was written from a fresher view than ours); never replace it with an older one.
	superseded
	// gone: the proxy no longer exists, or the Decider does not know it (yet).
	gone
)

// String names the outcome for metrics and logs.
func (o outcome) String() string {
	switch o {
	case write:
		return "write"
	case unchanged:
		return "unchanged"
	case stale:
		return "stale"
	case superseded:
		return "superseded"
	case gone:
		return "gone"
	}
	return "unknown"
}

// desiredStatus returns the status to write to stored, given the Decider's verdict on it,
// and whether to write it at all. It reads stored and v and modifies neither.
//
// The result is v's status with two things taken from stored: the LastTransitionTime of
// each condition whose status did not change (a condition whose status changes, or that is
// new, gets now), and the loadBalancer field, which Warden does not compute. Comparing the
// result with the stored status thus ignores transition times, as long as no condition
// changes status.
func desiredStatus(stored *contourv1.HTTPProxy, v *policy.Verdict, now metav1.Time) (contourv1.HTTPProxyStatus, outcome) {
	judged, judgedOK := observedGeneration(v.Status)
	if have, ok := observedGeneration(stored.Status); ok && judgedOK && have > judged {
		return contourv1.HTTPProxyStatus{}, superseded
	}
	if judgedOK && judged != stored.Generation {
		return contourv1.HTTPProxyStatus{}, stale
	}
	want := *v.Status.DeepCopy()
	want.LoadBalancer = *stored.Status.LoadBalancer.DeepCopy()
	for i := range want.Conditions {
		c := &want.Conditions[i]
		old := findCondition(stored.Status.Conditions, c.Type)
		if old != nil && old.Status == c.Status && !old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
	}
	// Semantic equality treats nil and empty slices alike: the API server drops empty
	// errors and warnings lists (omitempty).
	if equality.Semantic.DeepEqual(want, stored.Status) {
		return want, unchanged
	}
	return want, write
}

// observedGeneration returns the ObservedGeneration of the Valid condition, if there is one.
func observedGeneration(s contourv1.HTTPProxyStatus) (int64, bool) {
	if c := findCondition(s.Conditions, validType); c != nil {
		return c.ObservedGeneration, true
	}
	return 0, false
}

func findCondition(cs []contourv1.DetailedCondition, t string) *contourv1.DetailedCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}
