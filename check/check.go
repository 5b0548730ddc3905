// Package check runs Warden's decisions offline over manifests, as `warden check` does: each
// document is an admission request in order, denied objects are not stored (exactly as the
// API server would not store them), and the final status of every stored HTTPProxy is
// reported.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/manifest"
	"github.com/projectwarden/warden/policy"
)

// OperationAnnotation on a document makes it a delete: `warden.dev/check-operation: DELETE`.
const OperationAnnotation = "warden.dev/check-operation"

// Report is the outcome of a check, in the shape `warden check -o json` prints.
type Report struct {
	Admission []Admission `json:"admission"`
	Status    []Status    `json:"status"`
}

// Admission is the answer to one document.
type Admission struct {
	Index     int      `json:"index"`
	Source    string   `json:"source"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Operation string   `json:"operation"`
	Allowed   bool     `json:"allowed"`
	Denials   []Denial `json:"denials"`
	Warnings  []string `json:"warnings"`
	Checked   bool     `json:"checked"` // false for kinds Warden does not judge
}

// Denial is one violated rule.
type Denial struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Status is the final status of one stored HTTPProxy.
type Status struct {
	Namespace     string                        `json:"namespace"`
	Name          string                        `json:"name"`
	CurrentStatus string                        `json:"currentStatus"`
	Description   string                        `json:"description"`
	Conditions    []contourv1.DetailedCondition `json:"conditions"`
}

// Allowed reports whether every request was allowed.
func (r *Report) Allowed() bool {
	for _, a := range r.Admission {
		if !a.Allowed {
			return false
		}
	}
	return true
}

// InputError is unreadable input: a manifest that does not parse or decode. `warden check`
// exits 2 on it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Scheme returns the kinds `warden check` reads.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, discoveryv1.AddToScheme, contourv1.AddToScheme, policyv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Load reads and decodes documents. Kinds outside the scheme are kept as nil objects so
// they can be reported as not checked; anything unreadable is an *InputError.
func Load(paths []string, stdin io.Reader, s *runtime.Scheme) ([]manifest.Document, []client.Object, error) {
	docs, err := manifest.Read(paths, stdin)
	if err != nil {
		return nil, nil, &InputError{err}
	}
	objs := make([]client.Object, len(docs))
	for i, d := range docs {
		o, err := manifest.Decode(d, s)
		if errors.Is(err, manifest.ErrUnsupportedKind) {
			continue
		}
		if err != nil {
			return nil, nil, &InputError{err}
		}
		co, ok := o.(client.Object)
		if !ok {
			return nil, nil, &InputError{fmt.Errorf("%s:%d: %s is not an object", d.Source, d.Line, d.Object.GetKind())}
		}
		objs[i] = co
	}
	return docs, objs, nil
}

// Run applies the documents in order to d as successive admission requests and reports
// every answer and the final status. Objects without a creation timestamp get increasing
// timestamps starting at base, one second apart, in input order.
func Run(ctx context.Context, d *policy.Decider, docs []manifest.Document, objs []client.Object, base time.Time) (*Report, error) {
	r := &Report{Admission: []Admission{}, Status: []Status{}}
	stored := map[string]client.Object{}
	for i, doc := range docs {
		a := Admission{Index: doc.Index, Source: fmt.Sprintf("%s:%d", doc.Source, doc.Line),
			Kind: doc.Object.GetKind(), Namespace: doc.Object.GetNamespace(), Name: doc.Object.GetName(),
			Allowed: true, Denials: []Denial{}, Warnings: []string{}}
		obj := objs[i]
		if obj == nil {
			a.Operation = string(policy.Create)
			a.Warnings = append(a.Warnings, fmt.Sprintf("%s is not a kind Warden checks; ignored", a.Kind))
			r.Admission = append(r.Admission, a)
			continue
		}
		a.Checked = true
		if err := admit(ctx, d, stored, obj, base.Add(time.Duration(i)*time.Second), &a); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Source, err)
		}
		r.Admission = append(r.Admission, a)
	}
	for _, k := range d.Inventory().ProxyKeys() {
		v, err := d.Judge(ctx, k)
		if err != nil {
			return nil, err
		}
		r.Status = append(r.Status, Status{Namespace: k.Namespace, Name: k.Name,
			CurrentStatus: v.Status.CurrentStatus, Description: v.Status.Description, Conditions: v.Status.Conditions})
	}
	return r, nil
}

// admit answers one request and stores the object if it is allowed.
func admit(ctx context.Context, d *policy.Decider, stored map[string]client.Object, obj client.Object, created time.Time, a *Admission) error {
	id := a.Kind + "/" + a.Namespace + "/" + a.Name
	old := stored[id]
	op := policy.Create
	switch {
	case obj.GetAnnotations()[OperationAnnotation] == string(policy.Delete):
		op = policy.Delete
	case old != nil:
		op = policy.Update
	}
	a.Operation = string(op)
	if op == policy.Delete && old == nil {
		a.Allowed = false
		a.Denials = append(a.Denials, Denial{Rule: "not-found", Message: fmt.Sprintf("%s %s/%s does not exist, so it cannot be deleted", a.Kind, a.Namespace, a.Name)})
		return nil
	}
	prepare(obj, old, created)
	change := policy.Change{Operation: op, Object: obj, OldObject: old}
	if op == policy.Delete {
		change = policy.Change{Operation: op, OldObject: old}
	}
	dec, err := d.Decide(ctx, change)
	if err != nil {
		return err
	}
	a.Allowed = dec.Allowed
	for i, v := range dec.Denials {
		a.Denials = append(a.Denials, Denial{Rule: v.RuleID(), Message: dec.DenialMessages()[i]})
	}
	a.Warnings = append(a.Warnings, dec.WarningMessages()...)
	if !dec.Allowed {
		return nil
	}
	if op == policy.Delete {
		delete(stored, id)
		return d.Remove(ctx, old)
	}
	stored[id] = obj
	return d.Apply(ctx, obj)
}

// prepare sets what the API server would: the creation timestamp (kept on update) and the
// generation.
func prepare(obj, old client.Object, created time.Time) {
	if old != nil {
		obj.SetCreationTimestamp(old.GetCreationTimestamp())
		obj.SetGeneration(old.GetGeneration() + 1)
		return
	}
	if ts := obj.GetCreationTimestamp(); ts.IsZero() {
		obj.SetCreationTimestamp(metav1.NewTime(created))
	}
	if obj.GetGeneration() == 0 {
		obj.SetGeneration(1)
	}
}
