package policy

import (
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status values and messages, as Contour writes them.
const (
	StatusValid    = "valid"
	StatusInvalid  = "invalid"
	StatusOrphaned = "orphaned"

	conditionValid   = "Valid"
	orphanedType     = "Orphaned"
	validMessage     = "Valid HTTPProxy"
	errorsMessage    = "At least one error present, see Errors for details"
	orphanedMessage  = "this HTTPProxy is not part of a delegation chain from a root HTTPProxy"
	reasonValid      = "Valid"
	reasonErrPresent = "ErrorPresent"
)

// proxyStatus builds the Contour-compatible status the controller writes for a proxy with
// these findings: currentStatus valid/invalid/orphaned and the Valid condition with errors
// and warnings sub-conditions. Deny findings are errors; warn findings are errors when they
// say so (StatusError), else warnings; audit findings are warnings.
func proxyStatus(f findings, generation int64) contourv1.HTTPProxyStatus {
	dc := contourv1.DetailedCondition{Condition: metav1.Condition{
		Type:               conditionValid,
		Status:             metav1.ConditionTrue,
		Reason:             reasonValid,
		Message:            validMessage,
		ObservedGeneration: generation,
	}}
	for _, v := range f.deny {
		dc.AddError(v.statusType(), v.statusReason(), v.statusMessage())
	}
	for _, v := range f.warn {
		if v.StatusError {
			dc.AddError(v.statusType(), v.statusReason(), v.statusMessage())
		} else {
			dc.AddWarning(v.statusType(), v.statusReason(), v.statusMessage())
		}
	}
	for _, v := range f.audit {
		dc.AddWarning(v.statusType(), v.statusReason(), v.statusMessage())
	}
	st := contourv1.HTTPProxyStatus{CurrentStatus: StatusValid, Description: validMessage}
	if len(dc.Errors) > 0 {
		st.CurrentStatus, st.Description = StatusInvalid, errorsMessage
		if _, orphaned := dc.GetError(orphanedType); orphaned {
			st.CurrentStatus, st.Description = StatusOrphaned, orphanedMessage
		}
	}
	st.Conditions = []contourv1.DetailedCondition{dc}
	return st
}
