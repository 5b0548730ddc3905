package watch

import (
	"context"
	"fmt"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
)

// maxRefresh bounds the live reads one refresh makes.
const maxRefresh = 32

// Refresher re-reads objects from the API server (not the informer cache) into a Decider.
// The webhook uses it before denying, so a denial never rests on an informer that has not
// yet seen a change made a moment ago. The inventory ignores older versions that arrive
// later, so a refresh is never undone by a lagging event.
type Refresher struct {
	reader client.Reader
	d      *policy.Decider
}

// NewRefresher returns a Refresher reading with r, which must not be a cache (use the
// manager's APIReader or a plain client).
func NewRefresher(r client.Reader, d *policy.Decider) *Refresher {
	return &Refresher{reader: r, d: d}
}

// Refresh reads each referenced object live and records it (or its absence).
func (r *Refresher) Refresh(ctx context.Context, refs []policy.Ref) error {
	if len(refs) > maxRefresh {
		refs = refs[:maxRefresh]
	}
	for _, ref := range refs {
		var err error
		switch ref.Kind {
		case "HTTPProxy":
			err = r.proxy(ctx, ref.Key)
		case "TLSCertificateDelegation":
			err = r.delegations(ctx, ref.Key.Namespace)
		}
		if err != nil {
			return fmt.Errorf("refreshing %s %s: %w", ref.Kind, ref.Key, err)
		}
	}
	return nil
}

func (r *Refresher) proxy(ctx context.Context, k policy.Key) error {
	var p contourv1.HTTPProxy
	err := r.reader.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, &p)
	switch {
	case apierrors.IsNotFound(err):
		gone := &contourv1.HTTPProxy{}
		gone.Namespace, gone.Name = k.Namespace, k.Name
		return r.d.Remove(ctx, gone)
	case err != nil:
		return err
	}
	return r.d.Apply(ctx, &p)
}

// delegations replaces a namespace's delegations with what the API server holds.
func (r *Refresher) delegations(ctx context.Context, ns string) error {
	var list contourv1.TLSCertificateDelegationList
	if err := r.reader.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	live := map[string]bool{}
	for i := range list.Items {
		live[list.Items[i].Name] = true
		if err := r.d.Apply(ctx, &list.Items[i]); err != nil {
			return err
		}
	}
	for _, k := range r.d.Inventory().DelegationKeys(ns) {
		if !live[k.Name] {
			gone := &contourv1.TLSCertificateDelegation{}
			gone.Namespace, gone.Name = k.Namespace, k.Name
			if err := r.d.Remove(ctx, gone); err != nil {
				return err
			}
		}
	}
	return nil
}
