package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Mutation is the result of defaulting one HTTPProxy.
type Mutation struct {
	// Object is the mutated object as JSON; equal to the input when nothing changed.
	Object []byte
	// Changes says what was changed and why, one line each.
	Changes []string
	// Warnings are admin patches that could not be applied (they are skipped, never fatal).
	Warnings []string
}

// MutateRequest is an HTTPProxy to default at admission.
type MutateRequest struct {
	Operation Operation
	Namespace string
	// Object is the HTTPProxy as the API server sent it (JSON).
	Object []byte
	User   *UserInfo
}

// patchablePrefixes are where admin patches may write: the spec and the labels and
// annotations. Identity (name, namespace) and status are never patched.
var patchablePrefixes = []string{"/spec", "/metadata/labels", "/metadata/annotations"}

// Mutate applies Warden's defaults, then the admin policies' patch rules, to an HTTPProxy.
// Defaults never override a field the user set: includes[].namespace defaults to the
// proxy's namespace, virtualhost.fqdn is lower-cased, spec.ingressClassName is set when the
// configuration names a class and the field is empty. Applying Mutate to its own output
// changes nothing, so the webhook is safe under reinvocation.
func (d *Decider) Mutate(ctx context.Context, r MutateRequest) (*Mutation, error) {
	var obj map[string]any
	if err := json.Unmarshal(r.Object, &obj); err != nil {
		return nil, fmt.Errorf("decoding HTTPProxy: %w", err)
	}
	m := &Mutation{}
	m.Changes = applyDefaults(obj, r.Namespace, d.settings.IngressClassName)
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	ops, err := d.engine.patches(ctx, d.patchInput(r, obj))
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		next, err := applyPatch(out, op)
		if err != nil {
			m.Warnings = append(m.Warnings, fmt.Sprintf("DelegationPolicy %s: patch %s %s skipped: %v", op.Policy, op.Op, op.Path, err))
			continue
		}
		if string(next) != string(out) {
			m.Changes = append(m.Changes, fmt.Sprintf("DelegationPolicy %s: %s %s", op.Policy, op.Op, op.Path))
		}
		out = next
	}
	// Canonical key order, so the same object always serialises the same way.
	var canon map[string]any
	if err := json.Unmarshal(out, &canon); err != nil {
		return nil, err
	}
	if m.Object, err = json.Marshal(canon); err != nil {
		return nil, err
	}
	return m, nil
}

func applyDefaults(obj map[string]any, namespace, ingressClass string) []string {
	var changes []string
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return nil
	}
	if incs, ok := spec["includes"].([]any); ok {
		for i, it := range incs {
			inc, ok := it.(map[string]any)
			if !ok {
				continue
			}
			if ns, _ := inc["namespace"].(string); ns == "" {
				inc["namespace"] = namespace
				changes = append(changes, fmt.Sprintf("spec.includes[%d].namespace defaulted to %s", i, namespace))
			}
		}
	}
	if vh, ok := spec["virtualhost"].(map[string]any); ok {
		if fqdn, ok := vh["fqdn"].(string); ok && fqdn != strings.ToLower(fqdn) {
			vh["fqdn"] = strings.ToLower(fqdn)
			changes = append(changes, "spec.virtualhost.fqdn lower-cased")
		}
	}
	if ingressClass != "" {
		if c, _ := spec["ingressClassName"].(string); c == "" {
			spec["ingressClassName"] = ingressClass
			changes = append(changes, "spec.ingressClassName defaulted to "+ingressClass)
		}
	}
	return changes
}

// PatchOp is one JSON Patch operation an admin policy asked for.
type PatchOp struct {
	Policy string `json:"-"`
	Op     string `json:"op"`
	Path   string `json:"path"`
	Value  any    `json:"value,omitempty"`
}

func applyPatch(doc []byte, op PatchOp) ([]byte, error) {
	if !slices.ContainsFunc(patchablePrefixes, func(p string) bool { return op.Path == p || strings.HasPrefix(op.Path, p+"/") }) {
		return nil, fmt.Errorf("path must be under %s", strings.Join(patchablePrefixes, ", "))
	}
	if op.Op != "add" && op.Op != "replace" && op.Op != "remove" {
		return nil, fmt.Errorf("op must be add, replace or remove")
	}
	raw, err := json.Marshal([]PatchOp{op})
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, err
	}
	return p.ApplyWithOptions(doc, &jsonpatch.ApplyOptions{EnsurePathExistsOnAdd: true, AllowMissingPathOnRemove: true})
}

// patchInput is the input for patch rules: the object after Warden's defaults, without
// graph facts (mutation runs before validation).
func (d *Decider) patchInput(r MutateRequest, obj map[string]any) ast.Value {
	d.inv.mu.RLock()
	defer d.inv.mu.RUnlock()
	return d.input(d.inv, r.Operation, "HTTPProxy", Key{Namespace: r.Namespace}, mustValue(obj), nil, item("userInfo", r.User.value()))
}

// patches collects the patch rules of every active admin policy, in policy name order and,
// within a policy, in a stable order.
func (e *Engine) patches(ctx context.Context, input ast.Value) ([]PatchOp, error) {
	var out []PatchOp
	for _, p := range e.admins.Load().policies {
		if p.patchQuery == nil {
			continue
		}
		rs, err := p.patchQuery.Eval(ctx, rego.EvalParsedInput(input))
		if err != nil {
			return nil, fmt.Errorf("evaluating patch rules of DelegationPolicy %s: %w", p.Name, err)
		}
		if len(rs) != 1 {
			continue
		}
		items, _ := rs[0].Bindings["patch"].([]any)
		var ops []PatchOp
		for _, it := range items {
			m, _ := it.(map[string]any)
			ops = append(ops, PatchOp{Policy: p.Name, Op: stringOf(m["op"]), Path: stringOf(m["path"]), Value: m["value"]})
		}
		slices.SortFunc(ops, func(a, b PatchOp) int { return strings.Compare(a.Path+a.Op, b.Path+b.Op) })
		out = append(out, ops...)
	}
	return out, nil
}
