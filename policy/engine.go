package policy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	builtin "github.com/projectwarden/warden/rego"
)

// Engine evaluates the built-in policies and the active admin policies against one input.
// Policies are compiled once and prepared once; the active admin set is swapped atomically,
// so an evaluation in flight finishes on the set it started with and a broken policy never
// replaces a working one.
//
// Engine is safe for concurrent use.
type Engine struct {
	store   storage.Store
	caps    *ast.Capabilities
	builtin *builtinPolicies
	admins  atomic.Pointer[adminSet]
}

// adminSet is an immutable set of compiled admin policies, sorted by name.
type adminSet struct {
	policies   []*AdminPolicy
	generation uint64 // increases with every Activate and Deactivate
}

// unsafeBuiltins are removed from admin policies: a decision must depend only on its input
// and Warden's data, and must not reach the network or the process.
var unsafeBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "trace"}

// NewEngine compiles the built-in policies. An error here is a bug in Warden.
func NewEngine(ctx context.Context) (*Engine, error) {
	e := &Engine{
		store: inmem.NewWithOpts(inmem.OptReturnASTValuesOnRead(true)),
		caps:  restrictedCapabilities(),
	}
	e.admins.Store(&adminSet{})
	srcs, err := builtin.Modules()
	if err != nil {
		return nil, fmt.Errorf("reading built-in policies: %w", err)
	}
	mods, err := parseModules(srcs)
	if err != nil {
		return nil, fmt.Errorf("built-in policies: %w", err)
	}
	c := newCompiler(ast.CapabilitiesForThisVersion())
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("compiling built-in policies: %w", c.Errors)
	}
	if e.builtin, err = newBuiltinPolicies(c, e.store, mods); err != nil {
		return nil, fmt.Errorf("built-in policies: %w", err)
	}
	// The query naming every set is the fallback of builtinPolicies.query: prepare it now,
	// so that a broken built-in policy fails here. No transaction is open yet (nil: it
	// opens its own).
	if _, err := e.builtin.query(ctx, nil, e.builtin.all()); err != nil {
		return nil, err
	}
	return e, nil
}

func restrictedCapabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !slices.Contains(unsafeBuiltins, b.Name) {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	return caps
}

func newCompiler(caps *ast.Capabilities) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(caps).
		WithStrict(true).
		WithDefaultRegoVersion(ast.RegoV1)
}

func parseModules(srcs map[string]string) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(srcs))
	for name, src := range srcs {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		mods[name] = m
	}
	return mods, nil
}

// findings are the violations one evaluation produced, sorted.
type findings struct {
	deny  []Violation // reject at admission; errors in status
	warn  []Violation // admission warnings; errors or warnings in status
	audit []Violation // status warnings only (admin policies in audit mode)
}

// evaluate runs every policy on input inside one read transaction, so all policies see the
// same data.
func (e *Engine) evaluate(ctx context.Context, input ast.Value) (findings, error) {
	var out findings
	txn, err := e.store.NewTransaction(ctx)
	if err != nil {
		return out, fmt.Errorf("opening policy data: %w", err)
	}
	defer e.store.Abort(ctx, txn)

	if out.deny, out.warn, err = e.builtin.evaluate(ctx, txn, input); err != nil {
		return out, fmt.Errorf("evaluating built-in policies: %w", err)
	}
	for _, p := range e.admins.Load().policies {
		if err := p.evaluate(ctx, txn, input, &out); err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			// One admin policy's runtime error (e.g. conflicting complete rules) must not
			// block every change in the cluster: it is reported, not enforced.
			out.warn = append(out.warn, Violation{Policy: p.Name, Rule: "evaluation-error",
				Message: "the policy failed to evaluate and was skipped: " + err.Error(),
				Fix:     "fix the DelegationPolicy; until then its rules are not enforced"})
		}
	}
	for _, vs := range []*[]Violation{&out.deny, &out.warn, &out.audit} {
		sortViolations(*vs)
		// The built-in sets were a union once: a violation two packages report is one.
		*vs = slices.Compact(*vs)
	}
	return out, nil
}

// Policies returns the names of the active admin policies.
func (e *Engine) Policies() []string {
	var names []string
	for _, p := range e.admins.Load().policies {
		names = append(names, p.Name)
	}
	return names
}

// Generation identifies the active admin policy set: it increases whenever a policy is
// activated or deactivated.
func (e *Engine) Generation() uint64 { return e.admins.Load().generation }

// Activate adds p to the active set, replacing the policy of the same name.
func (e *Engine) Activate(p *AdminPolicy) {
	for {
		cur := e.admins.Load()
		next := &adminSet{generation: cur.generation + 1}
		for _, q := range cur.policies {
			if q.Name != p.Name {
				next.policies = append(next.policies, q)
			}
		}
		next.policies = append(next.policies, p)
		sort.Slice(next.policies, func(i, j int) bool { return next.policies[i].Name < next.policies[j].Name })
		if e.admins.CompareAndSwap(cur, next) {
			return
		}
	}
}

// Deactivate removes the policy with that name. It does not return an error if it is absent.
func (e *Engine) Deactivate(name string) {
	for {
		cur := e.admins.Load()
		next := &adminSet{generation: cur.generation + 1}
		for _, q := range cur.policies {
			if q.Name != name {
				next.policies = append(next.policies, q)
			}
		}
		if e.admins.CompareAndSwap(cur, next) {
			return
		}
	}
}

// SetNamespace records a namespace's labels in the policy data (data.inventory.namespaces),
// replacing what was there.
func (e *Engine) SetNamespace(ctx context.Context, name string, labels map[string]string) error {
	l := make(map[string]any, len(labels))
	for k, v := range labels {
		l[k] = v
	}
	val, err := ast.InterfaceToValue(map[string]any{"name": name, "labels": l})
	if err != nil {
		return err
	}
	return storage.Txn(ctx, e.store, storage.WriteParams, func(txn storage.Transaction) error {
		path := storage.Path{"inventory", "namespaces", name}
		if err := storage.MakeDir(ctx, e.store, txn, path[:2]); err != nil {
			return err
		}
		return e.store.Write(ctx, txn, storage.AddOp, path, val)
	})
}

// DeleteNamespace removes a namespace from the policy data. It does not return an error if
// it is absent.
func (e *Engine) DeleteNamespace(ctx context.Context, name string) error {
	err := storage.Txn(ctx, e.store, storage.WriteParams, func(txn storage.Transaction) error {
		return e.store.Write(ctx, txn, storage.RemoveOp, storage.Path{"inventory", "namespaces", name}, nil)
	})
	if storage.IsNotFound(err) {
		return nil
	}
	return err
}

// violations converts a Rego set of violation objects (or plain strings, which admin
// policies may return) into Violations.
func violations(v any, policy string) []Violation {
	items, _ := v.([]any)
	out := make([]Violation, 0, len(items))
	for _, it := range items {
		out = append(out, violationFrom(it, policy))
	}
	return out
}

func violationFrom(it any, policy string) Violation {
	v := Violation{Policy: policy}
	switch x := it.(type) {
	case string:
		v.Message = x
	case map[string]any:
		v.Rule = stringOf(x["rule"])
		v.Message = stringOf(x["message"])
		if v.Message == "" {
			v.Message = stringOf(x["msg"])
		}
		v.Fix = stringOf(x["fix"])
		v.Type = stringOf(x["type"])
		v.Reason = stringOf(x["reason"])
		v.StatusError = policy == "" && stringOf(x["status"]) == "error" // built-in rules only
	default:
		v.Message = fmt.Sprint(x)
	}
	return v
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
