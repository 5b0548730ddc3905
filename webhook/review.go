package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// readReview decodes an AdmissionReview request. The error, if any, is the HTTP status and
// a message for the API server's log.
func readReview(r *http.Request) (*admissionv1.AdmissionReview, int, error) {
	if r.Method != http.MethodPost {
		return nil, http.StatusMethodNotAllowed, fmt.Errorf("admission reviews are POSTed, not %s", r.Method)
	}
	body, err := io.ReadAll(r.Body)
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("admission review too large: %w", err)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading admission review: %w", err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("malformed admission review: %w", err)
	}
	if review.Request == nil {
		return nil, http.StatusBadRequest, errors.New("malformed admission review: no request")
	}
	if review.Request.UID == "" {
		return nil, http.StatusBadRequest, errors.New("malformed admission review: request has no uid")
	}
	return &review, 0, nil
}

// serveReview reads an AdmissionReview, answers it with review, and records the latency
// labelled with the webhook's name and the decision review returns.
func serveReview(w http.ResponseWriter, r *http.Request, name string, o Options,
	review func(context.Context, *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string)) {
	start := time.Now()
	in, status, err := readReview(r)
	if err != nil {
		o.Logger.Info("Rejected malformed admission review", "webhook", name, "status", status, "error", err.Error())
		o.Metrics.observe(name, "", "", "error", start)
		failReview(w, status, err)
		return
	}
	req := in.Request
	resp, decision := review(r.Context(), req)
	o.Metrics.observe(name, req.Kind.Kind, string(req.Operation), decision, start)
	writeReview(w, in, resp)
}

// writeReview answers a review with resp, echoing the request's apiVersion and uid.
func writeReview(w http.ResponseWriter, req *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
	resp.UID = req.Request.UID
	out := admissionv1.AdmissionReview{TypeMeta: req.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.TypeMeta = metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// failReview is the HTTP-level error answer for a review that cannot be read.
func failReview(w http.ResponseWriter, status int, err error) {
	http.Error(w, "warden: "+err.Error(), status)
}

// denied is a 403 answer whose message kubectl prints after "denied the request:".
func denied(message string, warnings []string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		Allowed:  false,
		Result:   &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: message},
		Warnings: warnings,
	}
}

// errored answers a request Warden could not decide (bad object, deadline): not allowed,
// with a code that says whose fault it is.
func errored(code int32, message string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		Allowed: false,
		Result:  &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: "warden: " + message},
	}
}

// Kinds the webhooks handle.
var (
	httpProxyGVK  = schema.GroupVersionKind{Group: "projectcontour.io", Version: "v1", Kind: "HTTPProxy"}
	delegationGVK = schema.GroupVersionKind{Group: "projectcontour.io", Version: "v1", Kind: "TLSCertificateDelegation"}
	policyGVK     = schema.GroupVersionKind{Group: "policy.warden.dev", Version: "v1alpha1", Kind: "DelegationPolicy"}
)

func gvkOf(k metav1.GroupVersionKind) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}
