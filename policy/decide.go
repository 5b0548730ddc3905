package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
)

// Decider is the one decision function: the admission webhook calls Decide for proposed
// changes, the controller calls Judge for stored objects, and both see the same inventory,
// facts and policies.
//
// Decider is safe for concurrent use.
type Decider struct {
	inv      *Inventory
	engine   *Engine
	settings Settings
	config   *ast.Term // input.config, built once from settings
}

// NewDecider returns a Decider over an empty inventory with the built-in policies compiled.
func NewDecider(ctx context.Context, s Settings) (*Decider, error) {
	e, err := NewEngine(ctx)
	if err != nil {
		return nil, err
	}
	return &Decider{inv: NewInventory(), engine: e, settings: s, config: configTerm(s)}, nil
}

// Inventory returns the inventory the Decider reads.
func (d *Decider) Inventory() *Inventory { return d.inv }

// Engine returns the policy engine.
func (d *Decider) Engine() *Engine { return d.engine }

// Apply records a stored object. A DelegationPolicy is compiled, tested and activated; if it
// fails, the previously active version stays and the error is returned.
func (d *Decider) Apply(ctx context.Context, obj client.Object) error {
	switch o := obj.(type) {
	case *policyv1alpha1.DelegationPolicy:
		p, err := d.engine.CompilePolicy(ctx, o)
		if err != nil {
			return err
		}
		d.engine.Activate(p)
		return nil
	case *corev1.Namespace:
		if err := d.engine.SetNamespace(ctx, o.Name, o.Labels); err != nil {
			return fmt.Errorf("recording namespace %s: %w", o.Name, err)
		}
	}
	d.inv.Apply(obj)
	return nil
}

// Remove forgets a stored object. It does not return an error if the object is absent.
func (d *Decider) Remove(ctx context.Context, obj client.Object) error {
	switch obj.(type) {
	case *policyv1alpha1.DelegationPolicy:
		d.engine.Deactivate(obj.GetName())
		return nil
	case *corev1.Namespace:
		if err := d.engine.DeleteNamespace(ctx, obj.GetName()); err != nil {
			return fmt.Errorf("forgetting namespace %s: %w", obj.GetName(), err)
		}
	}
	d.inv.Remove(obj)
	return nil
}

// Change is a proposed admission change.
type Change struct {
	Operation Operation
	// Object is the proposed object (CREATE, UPDATE).
	Object client.Object
	// OldObject is the stored object (UPDATE, DELETE).
	OldObject client.Object
	// User is who asks (admission's userInfo); nil for audits and offline checks.
	User *UserInfo
	// JudgeAffected also judges the other HTTPProxies the change alters (Decision.Affected).
	// Admission does not need it; it costs one evaluation per affected proxy.
	JudgeAffected bool
}

// Ref names an object, or with an empty Name every object of the kind in a namespace.
type Ref struct {
	Kind string // "HTTPProxy" or "TLSCertificateDelegation"
	Key  Key
}

// UserInfo identifies the requester, as input.userInfo for admin policies.
type UserInfo struct {
	Username string
	Groups   []string
}

func (u *UserInfo) value() *ast.Term {
	if u == nil {
		return ast.InternedNullTerm
	}
	return object(item("username", str(u.Username)), item("groups", array(u.Groups, str)))
}

// Decision is the answer to a Change.
type Decision struct {
	Kind      string
	Key       Key
	Operation Operation
	// Allowed is false when any deny-level violation applies.
	Allowed  bool
	Denials  []Violation
	Warnings []Violation
	// ReadFrom names the other objects the decision relied on. A webhook whose inventory
	// may lag the API server re-reads them before it denies (see watch.Refresher).
	ReadFrom []Ref
	// Affected are the verdicts of other HTTPProxies whose state the change alters, as the
	// controller would judge them once the change is stored. Only with Change.JudgeAffected.
	Affected []*Verdict
}

// DenialMessages returns the denials as lines for kubectl.
func (d *Decision) DenialMessages() []string { return texts(d.Kind, d.Key, d.Denials) }

// WarningMessages returns the warnings as lines for kubectl.
func (d *Decision) WarningMessages() []string { return texts(d.Kind, d.Key, d.Warnings) }

func texts(kind string, k Key, vs []Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Text(kind, k)
	}
	return out
}

// Verdict is the judgement of one stored (or hypothetically stored) HTTPProxy.
type Verdict struct {
	Key      Key
	Denials  []Violation
	Warnings []Violation
	Audits   []Violation
	// Status is what the controller writes to the HTTPProxy.
	Status contourv1.HTTPProxyStatus
}

// Accepted reports whether the proxy belongs in the accepted set (no deny-level violation).
func (v *Verdict) Accepted() bool { return len(v.Denials) == 0 }

// Decide answers an admission request: it evaluates the inventory as it would be with the
// change applied, without applying it.
func (d *Decider) Decide(ctx context.Context, c Change) (*Decision, error) {
	obj := c.Object
	if c.Operation == Delete || obj == nil {
		obj = c.OldObject
	}
	if obj == nil {
		return nil, fmt.Errorf("change has no object")
	}
	dec := &Decision{Key: Key{obj.GetNamespace(), obj.GetName()}, Operation: c.Operation, Allowed: true}
	var err error
	switch o := obj.(type) {
	case *contourv1.HTTPProxy:
		dec.Kind = "HTTPProxy"
		err = d.decideProxy(ctx, c, o, dec)
	case *contourv1.TLSCertificateDelegation:
		dec.Kind = "TLSCertificateDelegation"
		err = d.decideDelegation(ctx, c, o, dec)
	case *policyv1alpha1.DelegationPolicy:
		dec.Kind = "DelegationPolicy"
		d.decidePolicy(ctx, c, o, dec)
	default:
		dec.Kind = obj.GetObjectKind().GroupVersionKind().Kind
	}
	if err != nil {
		return nil, err
	}
	dec.Allowed = len(dec.Denials) == 0
	return dec, nil
}

// Judge evaluates a stored HTTPProxy, as the controller does. It returns nil if the proxy is
// not in the inventory.
//
// The inventory is read-locked only while the Rego input is built: evaluation reads
// nothing else. Held through evaluation (a millisecond under load, with the status writer
// judging on dozens of goroutines), the lock made every informer update (a status write
// coming back, hundreds a second at the end of a bulk create) wait for the judgements
// under way, and every new judgement wait for that update.
func (d *Decider) Judge(ctx context.Context, k Key) (*Verdict, error) {
	d.inv.mu.RLock()
	e := d.inv.proxy(k)
	if e == nil {
		d.inv.mu.RUnlock()
		return nil, nil
	}
	in := d.judgeInput(d.inv, e)
	d.inv.mu.RUnlock()
	return d.verdict(ctx, e, in)
}

// judgeInput is the Rego input that judges e in v (the inventory, read-locked).
func (d *Decider) judgeInput(v view, e *proxyEntry) ast.Value {
	f := computeFacts(v, d.settings, e)
	return d.input(v, Audit, "HTTPProxy", e.key, e.objectValue(d.inv.terms), nil, item("facts", f.value()))
}

// verdict evaluates in, the judgement input of e. It needs no lock: e never changes once
// stored (the inventory replaces entries) and in is built.
func (d *Decider) verdict(ctx context.Context, e *proxyEntry, in ast.Value) (*Verdict, error) {
	res, err := d.engine.evaluate(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("judging HTTPProxy %s: %w", e.key, err)
	}
	return &Verdict{
		Key: e.key, Denials: res.deny, Warnings: res.warn, Audits: res.audit,
		Status: proxyStatus(res, e.obj.Generation),
	}, nil
}

// decideProxy decides a change of an HTTPProxy. Like Judge, it read-locks the inventory
// only while it builds the Rego inputs (the change's and, with JudgeAffected, those of the
// proxies it affects), and evaluates them after.
func (d *Decider) decideProxy(ctx context.Context, c Change, p *contourv1.HTTPProxy, dec *Decision) error {
	in, affected := d.proxyInputs(c, p, dec)
	res, err := d.engine.evaluate(ctx, in)
	if err != nil {
		if c.Operation == Delete {
			return fmt.Errorf("deciding delete of HTTPProxy %s: %w", dec.Key, err)
		}
		return fmt.Errorf("deciding %s of HTTPProxy %s: %w", c.Operation, dec.Key, err)
	}
	dec.Denials, dec.Warnings = res.deny, res.warn
	return d.judgeAffected(ctx, affected, dec)
}

// proxyInputs builds, under the inventory's read lock, the input that decides c and the
// judgements of the proxies it affects (none unless c.JudgeAffected); it sets
// dec.ReadFrom.
func (d *Decider) proxyInputs(c Change, p *contourv1.HTTPProxy, dec *Decision) (ast.Value, []judgement) {
	d.inv.mu.RLock()
	defer d.inv.mu.RUnlock()
	k := dec.Key
	var v view
	var in ast.Value
	if c.Operation == Delete {
		old := d.inv.proxy(k)
		if old == nil {
			old = newProxyEntry(p)
		}
		after := &overlay{Inventory: d.inv, proxyKey: &k}
		f := computeFacts(d.inv, d.settings, old)
		imp := proxyDeleteImpact(d.inv, after, d.settings, old)
		in = d.input(d.inv, Delete, dec.Kind, k, old.objectValue(d.inv.terms), nil,
			item("facts", f.value()), item("impact", imp.value()), item("userInfo", c.User.value()))
		v = after
	} else {
		n := newProxyEntry(p)
		if c.Operation == Create {
			// The API server stamps creationTimestamp (to the second) before admission, so a
			// create can tie with a root made in the same second; it is younger than all of
			// them.
			n.created = newest
		}
		ov := &overlay{Inventory: d.inv, proxyKey: &k, newProxy: n}
		f := computeFacts(ov, d.settings, n)
		var oldValue ast.Value
		extra := [][2]*ast.Term{item("facts", f.value())}
		if c.OldObject != nil {
			oldValue = objectValue(c.OldObject, d.inv.terms)
		}
		if old := d.inv.proxy(k); old != nil && c.Operation == Update {
			extra = append(extra, item("impact", proxyUpdateImpact(d.inv, ov, d.settings, old).value()))
		}
		in = d.input(ov, c.Operation, dec.Kind, k, n.objectValue(d.inv.terms), oldValue, append(extra, item("userInfo", c.User.value()))...)
		dec.ReadFrom = f.readFrom()
		v = ov
	}
	if !c.JudgeAffected {
		return in, nil
	}
	return in, d.affectedInputs(v, affectedByProxy(d.inv, v, k), k)
}

func (d *Decider) decideDelegation(ctx context.Context, c Change, t *contourv1.TLSCertificateDelegation, dec *Decision) error {
	in, affected := d.delegationInputs(c, t, dec)
	res, err := d.engine.evaluate(ctx, in)
	if err != nil {
		return fmt.Errorf("deciding %s of TLSCertificateDelegation %s: %w", c.Operation, dec.Key, err)
	}
	dec.Denials, dec.Warnings = res.deny, res.warn
	return d.judgeAffected(ctx, affected, dec)
}

// delegationInputs is proxyInputs for a TLSCertificateDelegation.
func (d *Decider) delegationInputs(c Change, t *contourv1.TLSCertificateDelegation, dec *Decision) (ast.Value, []judgement) {
	d.inv.mu.RLock()
	defer d.inv.mu.RUnlock()
	k := dec.Key
	ov := &overlay{Inventory: d.inv, delegationKey: &k}
	if c.Operation != Delete {
		ov.newDelegation = t
	}
	imp := delegationImpact(d.inv, ov, d.settings, d.inv.delegations[k], ov.newDelegation)
	var oldValue ast.Value
	if c.OldObject != nil && c.Operation != Delete {
		oldValue = objectValue(c.OldObject, d.inv.terms)
	}
	in := d.input(ov, c.Operation, dec.Kind, k, objectValue(t, d.inv.terms), oldValue,
		item("facts", delegationFacts(ov, t)), item("impact", imp.value()), item("userInfo", c.User.value()))
	if !c.JudgeAffected {
		return in, nil
	}
	return in, d.affectedInputs(ov, imp.proxies(), Key{})
}

// decidePolicy admits a DelegationPolicy only if it compiles and its tests pass.
func (d *Decider) decidePolicy(ctx context.Context, c Change, p *policyv1alpha1.DelegationPolicy, dec *Decision) {
	if c.Operation == Delete {
		return
	}
	_, err := d.engine.CompilePolicy(ctx, p)
	var pe *PolicyError
	if !errors.As(err, &pe) {
		if err != nil {
			dec.Denials = append(dec.Denials, Violation{Rule: "policy-compiles", Message: err.Error()})
		}
		return
	}
	v := Violation{Rule: "policy-compiles", Message: "spec.rego does not compile: " + pe.Detail,
		Fix: "fix spec.rego; `opa check --strict` finds this locally"}
	switch pe.Stage {
	case "test":
		v = Violation{Rule: "policy-tests-pass", Message: "spec.tests failed: " + pe.Detail,
			Fix: "fix spec.rego or spec.tests; `opa test` runs them locally"}
	case "contract":
		v = Violation{Rule: "policy-contract", Message: pe.Detail, Fix: "see docs/policy-authoring.md"}
	}
	dec.Denials = append(dec.Denials, v)
}

// judgement is a proxy's judgement input, built under the inventory's read lock, to be
// evaluated after it is released.
type judgement struct {
	e  *proxyEntry
	in ast.Value
}

// affectedInputs builds the judgement inputs of the proxies keys a change alters, as v
// (the inventory with the change, read-locked) has them, except skip (the changed one).
func (d *Decider) affectedInputs(v view, keys []Key, skip Key) []judgement {
	var out []judgement
	for _, k := range keys {
		e := v.proxy(k)
		if k == skip || e == nil {
			continue
		}
		out = append(out, judgement{e: e, in: d.judgeInput(v, e)})
	}
	return out
}

// judgeAffected evaluates js into dec.Affected.
func (d *Decider) judgeAffected(ctx context.Context, js []judgement, dec *Decision) error {
	for _, j := range js {
		vd, err := d.verdict(ctx, j.e, j.in)
		if err != nil {
			return err
		}
		dec.Affected = append(dec.Affected, vd)
	}
	return nil
}

// input builds the decision input (see docs/policy-authoring.md). extra are more items.
func (d *Decider) input(v view, op Operation, kind string, k Key, obj, oldObject ast.Value, extra ...[2]*ast.Term) ast.Value {
	labels, exists := v.namespaceLabels(k.Namespace)
	items := append(make([][2]*ast.Term, 0, 6+len(extra)),
		item("operation", str(string(op))),
		item("kind", str(kind)),
		item("object", ast.NewTerm(obj)),
		item("namespace", object(item("name", str(k.Namespace)), item("exists", boolean(exists)), item("labels", stringMap(labels)))),
		item("config", d.config),
	)
	if oldObject != nil {
		items = append(items, item("oldObject", ast.NewTerm(oldObject)))
	}
	return object(append(items, extra...)...).Value
}

// configTerm renders the settings as input.config; the Decider builds it once.
func configTerm(s Settings) *ast.Term {
	return object(
		item("rootNamespaces", array(s.RootNamespaces, str)),
		item("disablePermitInsecure", boolean(s.DisablePermitInsecure)),
		item("fallbackCertificate", optionalKey(s.FallbackCertificate)),
	)
}
