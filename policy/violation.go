package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Violation is one rule's finding about one object.
type Violation struct {
	// Policy is the DelegationPolicy that produced it; empty for built-in rules.
	Policy string `json:"policy,omitempty"`
	// Rule identifies the rule, e.g. "include-cycle".
	Rule string `json:"rule"`
	// Message says what is wrong. For built-in rules that Contour also has, it is Contour's
	// status message.
	Message string `json:"message"`
	// Fix says how to fix it.
	Fix string `json:"fix,omitempty"`
	// Type and Reason are the status sub-condition (Contour's where Contour has the rule).
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason,omitempty"`
	// StatusError marks a warning that status reports as an error (e.g. an include whose
	// target does not exist yet: allowed at admission, but the includer is invalid).
	StatusError bool `json:"-"`
}

// RuleID is the rule as users see it: "include-cycle", or "policy team-edge" /
// "policy team-edge/rule" for admin rules.
func (v Violation) RuleID() string {
	if v.Policy == "" {
		return v.Rule
	}
	if v.Rule == "" {
		return "policy " + v.Policy
	}
	return "policy " + v.Policy + "/" + v.Rule
}

// Text is the one- or two-line message kubectl users see: the object, the rule, the cause
// and the fix.
func (v Violation) Text(kind string, k Key) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s [%s]", kind, k, v.Message, v.RuleID())
	if v.Fix != "" {
		fmt.Fprintf(&b, "; fix: %s", v.Fix)
	}
	return b.String()
}

// The HTTPProxy CRD's patterns for sub-condition types and reasons. An admin policy's own
// type or reason that does not match would make the API server reject the whole status
// write (422), so it falls back to Warden's defaults instead.
var (
	subConditionType   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`)
	subConditionReason = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)
)

// statusType and statusReason are the sub-condition written to status.
func (v Violation) statusType() string {
	switch {
	case v.Type != "" && len(v.Type) <= 316 && subConditionType.MatchString(v.Type):
		return v.Type
	case v.Policy != "":
		return "PolicyViolation"
	default:
		return "SpecError"
	}
}

func (v Violation) statusReason() string {
	switch {
	case v.Reason != "" && len(v.Reason) <= 1024 && subConditionReason.MatchString(v.Reason):
		return v.Reason
	case v.Policy != "":
		return "DelegationPolicy"
	default:
		return "RuleViolated"
	}
}

// statusMessage is the sub-condition message; admin findings name their policy.
func (v Violation) statusMessage() string {
	if v.Policy != "" {
		return fmt.Sprintf("DelegationPolicy %s: %s", v.Policy, v.Message)
	}
	return v.Message
}

func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		for _, c := range [][2]string{{a.Policy, b.Policy}, {a.Rule, b.Rule}, {a.Message, b.Message}} {
			if r := strings.Compare(c[0], c[1]); r != 0 {
				return r
			}
		}
		return 0
	})
}
