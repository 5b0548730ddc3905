package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
)

// testTimeout bounds each test of an admin policy, so a runaway test cannot stall admission.
const testTimeout = 2 * time.Second

// AdminPolicy is a compiled, tested DelegationPolicy ready to evaluate.
type AdminPolicy struct {
	// Name is the DelegationPolicy's name.
	Name string
	// Enforcement is what its deny rules do: deny, warn or audit.
	Enforcement policyv1alpha1.Enforcement
	// Package is the Rego package the module declares, e.g. "data.teams".
	Package string
	// Tests is the number of tests that ran and passed.
	Tests int
	// Hash identifies the source (module, tests and enforcement).
	Hash string

	query      rego.PreparedEvalQuery
	patchQuery *rego.PreparedEvalQuery // nil unless the module defines patch rules
}

// PolicyError is an admin policy's own fault: it does not parse or compile, breaks the
// decision contract, or fails its tests. Its message is meant for the policy's author.
type PolicyError struct {
	Policy string
	// Stage is "compile", "contract" or "test".
	Stage  string
	Detail string
}

func (e *PolicyError) Error() string {
	switch e.Stage {
	case "test":
		return fmt.Sprintf("DelegationPolicy %s: spec.tests failed: %s", e.Policy, e.Detail)
	case "contract":
		return fmt.Sprintf("DelegationPolicy %s: %s", e.Policy, e.Detail)
	default:
		return fmt.Sprintf("DelegationPolicy %s: spec.rego does not compile: %s", e.Policy, e.Detail)
	}
}

// IsPolicyError reports whether err is a PolicyError.
func IsPolicyError(err error) bool {
	var pe *PolicyError
	return errors.As(err, &pe)
}

// reservedPackages may not be declared by admin policies: they hold Warden's own policies and data.
var reservedPackages = []string{"data.warden", "data.inventory"}

// CompilePolicy parses and compiles a DelegationPolicy, runs its spec.tests and prepares
// its query. It does not activate the policy. A policy that fails returns a *PolicyError.
func (e *Engine) CompilePolicy(ctx context.Context, dp *policyv1alpha1.DelegationPolicy) (*AdminPolicy, error) {
	name := dp.Name
	mod, err := ast.ParseModuleWithOpts(name+".rego", dp.Spec.Rego, ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: e.caps})
	if err != nil {
		return nil, &PolicyError{Policy: name, Stage: "compile", Detail: err.Error()}
	}
	pkg := mod.Package.Path.String()
	for _, r := range reservedPackages {
		if pkg == r || strings.HasPrefix(pkg, r+".") {
			return nil, &PolicyError{Policy: name, Stage: "contract", Detail: fmt.Sprintf("package %s is reserved for Warden; declare your own package, e.g. package %s", strings.TrimPrefix(pkg, "data."), regoName(name))}
		}
	}
	if ref := reservedRef(mod); ref != "" {
		return nil, &PolicyError{Policy: name, Stage: "contract", Detail: fmt.Sprintf("%s is Warden's own and is not available to DelegationPolicies; use input and data.inventory", ref)}
	}
	hasDeny, hasWarn, hasPatch := false, false, false
	for _, r := range mod.Rules {
		switch r.Head.Name.String() {
		case "deny":
			hasDeny = true
		case "warn":
			hasWarn = true
		case "patch":
			hasPatch = true
		}
	}
	if !hasDeny && !hasWarn && !hasPatch {
		return nil, &PolicyError{Policy: name, Stage: "contract", Detail: "spec.rego defines no `deny contains msg if {...}`, `warn contains msg if {...}` or `patch contains op if {...}` rules, so it can never decide anything"}
	}
	mods := map[string]*ast.Module{name + ".rego": mod}
	c := newCompiler(e.caps)
	if c.Compile(mods); c.Failed() {
		return nil, &PolicyError{Policy: name, Stage: "compile", Detail: c.Errors.Error()}
	}
	p := &AdminPolicy{
		Name:        name,
		Enforcement: dp.Spec.EffectiveEnforcement(),
		Package:     pkg,
		Hash:        policyHash(dp),
	}
	if dp.Spec.Tests != "" {
		if p.Tests, err = e.runTests(ctx, name, mod, dp.Spec.Tests); err != nil {
			return nil, err
		}
	}
	if hasPatch {
		pq, err := rego.New(rego.Compiler(c), rego.Store(e.store), rego.Query("patch := "+pkg+".patch")).PrepareForEval(ctx)
		if err != nil {
			return nil, &PolicyError{Policy: name, Stage: "compile", Detail: err.Error()}
		}
		p.patchQuery = &pq
	}
	var q []string
	if hasDeny {
		q = append(q, "deny := "+pkg+".deny")
	}
	if hasWarn {
		q = append(q, "warn := "+pkg+".warn")
	}
	if len(q) == 0 {
		q = []string{"deny := set()"}
	}
	p.query, err = rego.New(rego.Compiler(c), rego.Store(e.store), rego.Query(strings.Join(q, "; "))).PrepareForEval(ctx)
	if err != nil {
		return nil, &PolicyError{Policy: name, Stage: "compile", Detail: err.Error()}
	}
	return p, nil
}

// runTests runs the policy's tests against the module in a fresh store: tests supply their
// own input and data with `with`.
func (e *Engine) runTests(ctx context.Context, name string, mod *ast.Module, src string) (int, error) {
	tmod, err := ast.ParseModuleWithOpts(name+"_test.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: e.caps})
	if err != nil {
		return 0, &PolicyError{Policy: name, Stage: "test", Detail: "spec.tests does not compile: " + err.Error()}
	}
	ch, err := tester.NewRunner().
		SetCompiler(newCompiler(e.caps)).
		SetStore(inmem.New()).
		SetTimeout(testTimeout).
		SetModules(map[string]*ast.Module{name + ".rego": mod, name + "_test.rego": tmod}).
		RunTests(ctx, nil)
	if err != nil {
		return 0, &PolicyError{Policy: name, Stage: "test", Detail: err.Error()}
	}
	ran := 0
	var failed []string
	for r := range ch {
		if r.Skip {
			continue
		}
		ran++
		if r.Pass() {
			continue
		}
		what := r.Name
		if r.Location != nil {
			what = fmt.Sprintf("%s (line %d)", r.Name, r.Location.Row)
		}
		if r.Error != nil {
			what += ": " + r.Error.Error()
		}
		failed = append(failed, what)
	}
	if ran == 0 {
		return 0, &PolicyError{Policy: name, Stage: "test", Detail: "spec.tests defines no test_ rules"}
	}
	if len(failed) > 0 {
		return ran, &PolicyError{Policy: name, Stage: "test", Detail: fmt.Sprintf("%d of %d failed: %s", len(failed), ran, strings.Join(failed, "; "))}
	}
	return ran, nil
}

// evaluate adds this policy's violations to out according to its enforcement.
func (p *AdminPolicy) evaluate(ctx context.Context, txn storage.Transaction, input ast.Value, out *findings) error {
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTransaction(txn))
	if err != nil {
		return fmt.Errorf("evaluating DelegationPolicy %s: %w", p.Name, err)
	}
	if len(rs) != 1 {
		return nil
	}
	deny := violations(rs[0].Bindings["deny"], p.Name)
	warn := violations(rs[0].Bindings["warn"], p.Name)
	switch p.Enforcement {
	case policyv1alpha1.EnforcementAudit:
		out.audit = append(append(out.audit, deny...), warn...)
	case policyv1alpha1.EnforcementWarn:
		out.warn = append(append(out.warn, deny...), warn...)
	default:
		out.deny = append(out.deny, deny...)
		out.warn = append(out.warn, warn...)
	}
	return nil
}

func policyHash(dp *policyv1alpha1.DelegationPolicy) string {
	h := sha256.New()
	for _, s := range []string{dp.Spec.Rego, dp.Spec.Tests, string(dp.Spec.EffectiveEnforcement())} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// reservedRef returns the first reference into data.warden in m, or "".
func reservedRef(m *ast.Module) string {
	found := ""
	ast.WalkRefs(m, func(r ast.Ref) bool {
		if found == "" && r.HasPrefix(ast.MustParseRef("data.warden")) {
			found = r.String()
		}
		return found != ""
	})
	return found
}

// regoName turns a Kubernetes name into a valid Rego package name.
func regoName(name string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(name)
}
