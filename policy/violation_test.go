package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestViolation_statusSubCondition(t *testing.T) {
	cases := map[string]struct {
		v                 Violation
		wantType, wantWhy string
	}{
		"built_in_keeps_contour_type_and_reason": {
			v: Violation{Rule: "duplicate-fqdn", Type: "VirtualHostError", Reason: "DuplicateVhost"}, wantType: "VirtualHostError", wantWhy: "DuplicateVhost",
		},
		"admin_valid_custom_type_and_reason_kept": {
			v: Violation{Policy: "p", Type: "example.com/TeamRule", Reason: "NotOnEdge"}, wantType: "example.com/TeamRule", wantWhy: "NotOnEdge",
		},
		"admin_type_and_reason_the_crd_rejects_fall_back": {
			v: Violation{Policy: "p", Type: "not a type!", Reason: "has spaces"}, wantType: "PolicyViolation", wantWhy: "DelegationPolicy",
		},
		"admin_without_type_uses_defaults": {
			v: Violation{Policy: "p"}, wantType: "PolicyViolation", wantWhy: "DelegationPolicy",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := [2]string{tc.v.statusType(), tc.v.statusReason()}
			if diff := cmp.Diff([2]string{tc.wantType, tc.wantWhy}, got); diff != "" {
				t.Errorf("type, reason (-want +got):\n%s", diff)
			}
		})
	}
}
