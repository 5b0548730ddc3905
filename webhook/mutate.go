package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/projectwarden/warden/policy"
)

// MutateFunc is what the mutating webhook needs from the policy package.
type MutateFunc func(ctx context.Context, r policy.MutateRequest) (*policy.Mutation, error)

// Mutator is the mutating webhook for HTTPProxy.
type Mutator struct {
	mutate MutateFunc
	opts   Options
}

// NewMutator returns the mutating webhook handler.
func NewMutator(m MutateFunc, o Options) *Mutator {
	return &Mutator{mutate: m, opts: o.withDefaults()}
}

// ServeHTTP answers one AdmissionReview with a JSON patch, or none when nothing changes.
func (m *Mutator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serveReview(w, r, "mutate", m.opts, m.review)
}

func (m *Mutator) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	if gvkOf(req.Kind) != httpProxyGVK || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return &admissionv1.AdmissionResponse{Allowed: true}, "allowed"
	}
	if len(req.Object.Raw) == 0 {
		return errored(http.StatusBadRequest, "the request carries no object"), "error"
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	start := time.Now()
	mut, err := m.mutate(ctx, policy.MutateRequest{
		Operation: policy.Operation(req.Operation),
		Namespace: req.Namespace,
		Object:    req.Object.Raw,
		User:      &policy.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
	})
	m.opts.Metrics.observeEvaluation("mutate", time.Since(start))
	if err != nil {
		m.opts.Logger.Error(err, "Mutation failed", "namespace", req.Namespace, "name", req.Name)
		return errored(http.StatusBadRequest, err.Error()), "error"
	}
	ops, err := jsonpatch.CreatePatch(req.Object.Raw, mut.Object)
	if err != nil {
		return errored(http.StatusInternalServerError, "building the patch: "+err.Error()), "error"
	}
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: mut.Warnings}
	if len(ops) == 0 {
		return resp, "allowed"
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return errored(http.StatusInternalServerError, "encoding the patch: "+err.Error()), "error"
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	return resp, "patched"
}
