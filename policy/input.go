package policy

import (
	"encoding/json"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
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

// The input document is built directly as Rego terms: it is built for every decision, and
// a JSON round trip per field would cost more than the evaluation. Each object is made in
// one piece from its items; keys are constants at every call site (item is inlined, so
// their strings need no allocation), and booleans, small numbers, null and the empty array
// are OPA's interned terms.

// item is one key/value pair of an input object.
func item(key string, v *ast.Term) [2]*ast.Term { return [2]*ast.Term{ast.StringTerm(key), v} }

func object(items ...[2]*ast.Term) *ast.Term { return ast.NewTerm(ast.NewObject(items...)) }

func str(s string) *ast.Term    { return ast.StringTerm(s) }
func boolean(b bool) *ast.Term  { return ast.InternedTerm(b) }
func number(n int) *ast.Term    { return ast.InternedTerm(n) }
func keyTerm(k Key) *ast.Term   { return ast.StringTerm(k.String()) }
func valueTerm(v any) *ast.Term { return ast.NewTerm(mustValue(v)) }

func array[T any](items []T, f func(T) *ast.Term) *ast.Term {
	if len(items) == 0 {
		return ast.InternedEmptyArray
	}
	terms := make([]*ast.Term, len(items))
	for i, it := range items {
		terms[i] = f(it)
	}
	return ast.ArrayTerm(terms...)
}

func optionalKey(k *Key) *ast.Term {
	if k == nil {
		return ast.InternedNullTerm
	}
	return keyTerm(*k)
}

func conditionErrorsTerm(errs []conditionError) *ast.Term {
	return array(errs, func(e conditionError) *ast.Term {
		return object(item("reason", str(e.Reason)), item("message", str(e.Message)))
	})
}

// conditionsTerm renders match conditions as their JSON. Path conditions, by far the most
// common, are built directly; header and query matchers go through JSON.
func conditionsTerm(cs []contourv1.MatchCondition) *ast.Term {
	return array(cs, func(c contourv1.MatchCondition) *ast.Term {
		if c.Header != nil || c.QueryParameter != nil {
			return valueTerm(c)
		}
		items := make([][2]*ast.Term, 0, 1)
		if c.Prefix != "" {
			items = append(items, item("prefix", str(c.Prefix)))
		}
		if c.Exact != "" {
			items = append(items, item("exact", str(c.Exact)))
		}
		if c.Regex != "" {
			items = append(items, item("regex", str(c.Regex)))
		}
		return object(items...)
	})
}

// stringMap renders labels as an object.
func stringMap(m map[string]string) *ast.Term {
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		items = append(items, [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(v)})
	}
	return object(items...)
}

// value renders the facts as input.facts (see docs/policy-authoring.md).
func (f *Facts) value() *ast.Term {
	return object(
		item("root", boolean(f.Root)),
		item("fqdn", str(f.FQDN)),
		item("rootNamespaceAllowed", boolean(f.RootNamespaceAllowed)),
		item("fqdnOwner", optionalKey(f.FQDNOwner)),
		item("fqdnClaimants", array(f.FQDNClaimants, keyTerm)),
		item("includes", array(f.Includes, includeTerm)),
		item("includedBy", array(f.IncludedBy, keyTerm)),
		item("cycles", array(f.Cycles, func(c []Key) *ast.Term { return array(c, keyTerm) })),
		item("reach", array(f.Reach, func(r Reach) *ast.Term {
			return object(item("root", keyTerm(r.Root)), item("rootNamespace", str(r.Root.Namespace)), item("fqdn", str(r.FQDN)),
				item("path", array(r.Path, keyTerm)), item("conditions", conditionsTerm(r.Conditions)))
		})),
		item("reachTruncated", boolean(f.ReachTruncated)),
		item("orphaned", boolean(f.Orphaned)),
		item("secrets", array(f.Secrets, secretTerm)),
		item("services", array(f.Services, func(s ServiceFact) *ast.Term {
			return object(item("route", number(s.Route)), item("service", keyTerm(s.Service)), item("name", str(s.Service.Name)),
				item("port", number(s.Port)), item("found", boolean(s.Found)), item("portFound", boolean(s.PortFound)))
		})),
		item("routeConditionErrors", array(f.RouteConditionErrors, func(e RouteConditionError) *ast.Term {
			return object(item("route", number(e.Route)), item("reason", str(e.Reason)), item("message", str(e.Message)))
		})),
		item("chainConflicts", array(f.ChainConflicts, func(c ChainConflict) *ast.Term {
			return object(item("route", number(c.Route)), item("path", array(c.Path, keyTerm)), item("reason", str(c.Reason)), item("message", str(c.Message)))
		})),
		item("permitInsecureRoutes", array(f.PermitInsecureRoutes, number)),
	)
}

func includeTerm(i IncludeFact) *ast.Term {
	return object(item("index", number(i.Index)), item("target", keyTerm(i.Target)),
		item("namespace", str(i.Target.Namespace)), item("name", str(i.Target.Name)),
		item("tcp", boolean(i.TCP)), item("found", boolean(i.Found)), item("targetIsRoot", boolean(i.TargetIsRoot)),
		item("conditionErrors", conditionErrorsTerm(i.ConditionErrors)), item("duplicateOf", number(i.DuplicateOf)))
}

func secretTerm(s SecretFact) *ast.Term {
	return object(item("use", str(s.Use)), item("field", str(s.Field)), item("ref", str(s.Ref)), item("secret", keyTerm(s.Secret)),
		item("namespace", str(s.Secret.Namespace)), item("name", str(s.Secret.Name)),
		item("crossNamespace", boolean(s.CrossNamespace)), item("delegated", boolean(s.Delegated)), item("exists", boolean(s.Exists)))
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
