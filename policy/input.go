package policy

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Operation is what is being decided: an admission request, or an audit of a stored object.
type Operation string

// Operations. Audit judges an object already stored (the controller's view).
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
	Audit  Operation = "AUDIT"
)

// The input document is built directly as Rego values: it is built for every decision, and
// a JSON round trip per field would cost more than the evaluation.

func term(v ast.Value) *ast.Term { return ast.NewTerm(v) }

func obj(kv ...any) ast.Value {
	o := ast.NewObject()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			continue
		}
		o.Insert(ast.StringTerm(kv[i].(string)), term(kv[i+1].(ast.Value)))
	}
	return o
}

func strv(s string) ast.Value  { return ast.String(s) }
func boolean(b bool) ast.Value { return ast.Boolean(b) }
func number(n int) ast.Value   { return ast.Number(json.Number(fmt.Sprint(n))) }
func keyValue(k Key) ast.Value { return ast.String(k.String()) }

func arr[T any](items []T, f func(T) ast.Value) ast.Value {
	terms := make([]*ast.Term, len(items))
	for i, it := range items {
		terms[i] = term(f(it))
	}
	return ast.NewArray(terms...)
}

func optionalKey(k *Key) ast.Value {
	if k == nil {
		return ast.Null{}
	}
	return keyValue(*k)
}

func conditionErrorsValue(errs []conditionError) ast.Value {
	return arr(errs, func(e conditionError) ast.Value { return obj("reason", strv(e.Reason), "message", strv(e.Message)) })
}

// value renders the facts as input.facts (see docs/policy-authoring.md).
func (f *Facts) value() ast.Value {
	return obj(
		"root", boolean(f.Root),
		"fqdn", strv(f.FQDN),
		"rootNamespaceAllowed", boolean(f.RootNamespaceAllowed),
		"fqdnOwner", optionalKey(f.FQDNOwner),
		"fqdnClaimants", arr(f.FQDNClaimants, keyValue),
		"includes", arr(f.Includes, func(i IncludeFact) ast.Value {
			return obj("index", number(i.Index), "target", keyValue(i.Target),
				"namespace", strv(i.Target.Namespace), "name", strv(i.Target.Name),
				"tcp", boolean(i.TCP), "found", boolean(i.Found), "targetIsRoot", boolean(i.TargetIsRoot),
				"conditionErrors", conditionErrorsValue(i.ConditionErrors), "duplicateOf", number(i.DuplicateOf))
		}),
		"includedBy", arr(f.IncludedBy, keyValue),
		"cycles", arr(f.Cycles, func(c []Key) ast.Value { return arr(c, keyValue) }),
		"reach", arr(f.Reach, func(r Reach) ast.Value {
			return obj("root", keyValue(r.Root), "rootNamespace", strv(r.Root.Namespace), "fqdn", strv(r.FQDN),
				"path", arr(r.Path, keyValue), "conditions", mustValue(r.Conditions))
		}),
		"reachTruncated", boolean(f.ReachTruncated),
		"orphaned", boolean(f.Orphaned),
		"secrets", arr(f.Secrets, func(s SecretFact) ast.Value {
			return obj("use", strv(s.Use), "field", strv(s.Field), "ref", strv(s.Ref), "secret", keyValue(s.Secret),
				"namespace", strv(s.Secret.Namespace), "name", strv(s.Secret.Name),
				"crossNamespace", boolean(s.CrossNamespace), "delegated", boolean(s.Delegated), "exists", boolean(s.Exists))
		}),
		"services", arr(f.Services, func(s ServiceFact) ast.Value {
			return obj("route", number(s.Route), "service", keyValue(s.Service), "name", strv(s.Service.Name),
				"port", number(s.Port), "found", boolean(s.Found), "portFound", boolean(s.PortFound))
		}),
		"routeConditionErrors", arr(f.RouteConditionErrors, func(e RouteConditionError) ast.Value {
			return obj("route", number(e.Route), "reason", strv(e.Reason), "message", strv(e.Message))
		}),
		"chainConflicts", arr(f.ChainConflicts, func(c ChainConflict) ast.Value {
			return obj("route", number(c.Route), "path", arr(c.Path, keyValue), "reason", strv(c.Reason), "message", strv(c.Message))
		}),
		"permitInsecureRoutes", arr(f.PermitInsecureRoutes, number),
	)
}

// mustValue converts a JSON-serialisable API value. API types always serialise, so an
// error here is a bug; it yields null rather than a panic.
func mustValue(x any) ast.Value {
	if c, ok := x.([]contourv1.MatchCondition); ok && c == nil {
		return ast.NewArray()
	}
	v, err := toValue(x)
	if err != nil {
		return ast.Null{}
	}
	return v
}

func toValue(x any) (ast.Value, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := util.UnmarshalJSON(b, &generic); err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(generic)
}

// objectValue renders a stored object as Rego input: its JSON without managedFields,
// resourceVersion, status and the last-applied annotation, which no rule should read. Without
// them, a status write leaves the input as it was, and the inventory keeps the value it had
// built (see sameDecisionInputs).
func objectValue(o client.Object) ast.Value {
	c := o.DeepCopyObject().(client.Object)
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	if a := c.GetAnnotations(); a != nil {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
	}
	v := mustValue(c)
	if o, ok := v.(ast.Object); ok { // status is never an input to a decision
		if f := o.Get(ast.StringTerm("status")); f != nil {
			return o.Diff(ast.NewObject([2]*ast.Term{ast.StringTerm("status"), f}))
		}
	}
	return v
}

// value returns the proxy as Rego input, built once per stored version.
func (e *proxyEntry) objectValue() ast.Value {
	e.valueOnce.Do(func() { e.value = objectValue(e.obj) })
	return e.value
}
