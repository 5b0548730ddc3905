package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/policy"
)

// DefaultTimeout bounds one decision. It is below the 5 s timeoutSeconds Warden's webhook
// configurations use, so a slow decision is answered by Warden, not cut off by the API server.
const DefaultTimeout = 3 * time.Second

// Decider is what the validating webhook needs from the policy package.
type Decider interface {
	Decide(ctx context.Context, c policy.Change) (*policy.Decision, error)
}

// Options configure both webhooks.
type Options struct {
	// Timeout bounds each decision. Default DefaultTimeout.
	Timeout time.Duration
	// Metrics records latencies; nil records nothing.
	Metrics *Metrics
	// Logger logs failures. Default: discard.
	Logger logr.Logger
	// Refresher, if set, re-reads the objects a denial relied on from the API server and
	// the decision is made again: the inventory is fed by informers, which may lag a
	// change made a moment ago (a delegation applied just before the root that uses it).
	Refresher Refresher
}

// Refresher brings the objects a decision read up to date.
type Refresher interface {
	Refresh(ctx context.Context, refs []policy.Ref) error
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	return o
}

// Validator is the validating webhook.
type Validator struct {
	decider Decider
	opts    Options
}

// NewValidator returns the validating webhook handler.
func NewValidator(d Decider, o Options) *Validator {
	return &Validator{decider: d, opts: o.withDefaults()}
}

// ServeHTTP answers one AdmissionReview.
func (v *Validator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serveReview(w, r, "validate", v.opts, v.review)
}

func (v *Validator) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	change, err := changeFor(req)
	if err != nil {
		return errored(http.StatusBadRequest, err.Error()), "error"
	}
	if change == nil { // CONNECT, or an operation Warden does not judge
		return &admissionv1.AdmissionResponse{Allowed: true}, "allowed"
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	start := time.Now()
	dec, err := v.decider.Decide(ctx, *change)
	v.opts.Metrics.observeEvaluation("validate", time.Since(start))
	if err != nil {
		v.opts.Logger.Error(err, "Decision failed", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		if errors.Is(err, context.DeadlineExceeded) {
			return errored(http.StatusServiceUnavailable, fmt.Sprintf("no decision within %s; retry, and tell the cluster admins if it persists", v.opts.Timeout)), "error"
		}
		return errored(http.StatusInternalServerError, "could not decide: "+err.Error()), "error"
	}
	if !dec.Allowed && v.opts.Refresher != nil && len(dec.ReadFrom) > 0 {
		dec = v.recheck(ctx, req, *change, dec)
	}
	warnings := dec.WarningMessages()
	if !dec.Allowed {
		return denied(strings.Join(dec.DenialMessages(), "\n"), warnings), "denied"
	}
	return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}, "allowed"
}

// recheck refreshes what a denial relied on and decides again; on any failure the first
// decision stands.
func (v *Validator) recheck(ctx context.Context, req *admissionv1.AdmissionRequest, c policy.Change, first *policy.Decision) *policy.Decision {
	if err := v.opts.Refresher.Refresh(ctx, first.ReadFrom); err != nil {
		v.opts.Logger.Error(err, "Refreshing before a denial failed; denying on cached data", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		return first
	}
	dec, err := v.decider.Decide(ctx, c)
	if err != nil {
		return first
	}
	return dec
}

// changeFor turns an admission request into a policy change. It returns nil for operations
// Warden does not judge, and an error for kinds it does not handle or objects that do not
// decode.
func changeFor(req *admissionv1.AdmissionRequest) (*policy.Change, error) {
	var op policy.Operation
	switch req.Operation {
	case admissionv1.Create:
		op = policy.Create
	case admissionv1.Update:
		op = policy.Update
	case admissionv1.Delete:
		op = policy.Delete
	default:
		return nil, nil
	}
	newObject := objectFactory(gvkOf(req.Kind))
	if newObject == nil {
		return nil, fmt.Errorf("kind %s is not handled by Warden's webhooks; the webhook configuration should not send it", gvkOf(req.Kind))
	}
	c := &policy.Change{Operation: op, User: &policy.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups}}
	var err error
	if op != policy.Delete {
		if c.Object, err = decode(req.Object.Raw, newObject, req); err != nil {
			return nil, err
		}
	}
	if op != policy.Create {
		if c.OldObject, err = decode(req.OldObject.Raw, newObject, req); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func objectFactory(gvk schema.GroupVersionKind) func() client.Object {
	switch gvk {
	case httpProxyGVK:
		return func() client.Object { return &contourv1.HTTPProxy{} }
	case delegationGVK:
		return func() client.Object { return &contourv1.TLSCertificateDelegation{} }
	case policyGVK:
		return func() client.Object { return &policyv1alpha1.DelegationPolicy{} }
	}
	return nil
}

func decode(raw []byte, newObject func() client.Object, req *admissionv1.AdmissionRequest) (client.Object, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s %s/%s: the request carries no object", req.Kind.Kind, req.Namespace, req.Name)
	}
	o := newObject()
	if err := json.Unmarshal(raw, o); err != nil {
		return nil, fmt.Errorf("%s %s/%s does not decode: %w", req.Kind.Kind, req.Namespace, req.Name, err)
	}
	if o.GetNamespace() == "" {
		o.SetNamespace(req.Namespace) // creates may omit it; the request names it
	}
	return o, nil
}
