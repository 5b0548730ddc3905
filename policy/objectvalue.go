package policy

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastApplied is the annotation kubectl apply writes: a copy of the object, never an input.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// objectValue renders a stored object as Rego input: its JSON without managedFields,
// resourceVersion, status and the last-applied annotation, which no rule should read. Without
// them, a status write leaves the input as it was, and the inventory keeps the value it had
// built (see sameDecisionInputs). Terms are shared through terms, which may be nil.
func objectValue(o client.Object, terms *termInterner) ast.Value {
	b, err := json.Marshal(o)
	if err != nil { // API types always serialise: a bug, which yields null rather than a panic
		return ast.InternedNullValue
	}
	var doc any
	if err := util.UnmarshalJSON(b, &doc); err != nil {
		return ast.InternedNullValue
	}
	if m, ok := doc.(map[string]any); ok {
		delete(m, "status") // never an input to a decision
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "managedFields")
			delete(meta, "resourceVersion")
			if a, ok := meta["annotations"].(map[string]any); ok {
				if delete(a, lastApplied); len(a) == 0 {
					delete(meta, "annotations") // as omitempty would
				}
			}
		}
	}
	return terms.term(doc, false).Value
}

// objectValue returns the proxy as Rego input, built once per stored version.
func (e *proxyEntry) objectValue(terms *termInterner) ast.Value {
	e.valueOnce.Do(func() { e.value = objectValue(e.obj, terms) })
	return e.value
}

// maxInterned bounds the strings a termInterner shares. The keys of the HTTPProxy schema are
// a few dozen, but label and annotation keys are the users' choice: past the bound, new
// strings are simply not shared.
const maxInterned = 4096

// sharedValue reports whether the string values of key are shared too: they repeat across
// objects (every proxy has the same apiVersion and kind, and a few dozen namespaces hold
// thousands of proxies), unlike names, which would only fill the interner.
func sharedValue(key string) bool {
	switch key {
	case "apiVersion", "kind", "namespace":
		return true
	}
	return false
}

// termInterner shares terms among the Rego inputs of all stored objects. The inventory keeps
// one input per HTTPProxy, and most of its bytes were the same keys ("metadata", "spec",
// "conditions", ...) built again for every object, and the same match conditions. A term is
// never modified once built, so sharing one is safe (OPA interns its own terms the same way).
//
// termInterner is safe for concurrent use; a nil *termInterner shares nothing.
type termInterner struct {
	strings    sync.Map // string -> *ast.Term
	n          atomic.Int64
	conditions sync.Map // the String() of a conditions array -> *ast.Term
	nc         atomic.Int64
}

// str returns a string term, shared if possible.
func (t *termInterner) str(s string) *ast.Term {
	if t == nil {
		return ast.StringTerm(s)
	}
	if v, ok := t.strings.Load(s); ok {
		return v.(*ast.Term)
	}
	return internIn(&t.strings, &t.n, s, ast.StringTerm(s))
}

// shared returns the term already shared that equals c, or c, which it shares if there is room.
func (t *termInterner) shared(c *ast.Term) *ast.Term {
	if t == nil {
		return c
	}
	return internIn(&t.conditions, &t.nc, c.String(), c)
}

// internIn returns the term m holds under k, or else v, which it stores under k while m
// holds fewer than maxInterned terms (n counts them).
func internIn(m *sync.Map, n *atomic.Int64, k string, v *ast.Term) *ast.Term {
	if got, ok := m.Load(k); ok {
		return got.(*ast.Term)
	}
	if n.Load() >= maxInterned {
		return v
	}
	got, loaded := m.LoadOrStore(k, v)
	if !loaded {
		n.Add(1)
	}
	return got.(*ast.Term)
}

// term converts a decoded JSON value (util.UnmarshalJSON) into a term, as ast.InterfaceToValue
// does, but builds each object in one piece and shares what it can: object keys, the strings
// of sharedValue keys, match conditions, and OPA's interned scalars and empty collections.
func (t *termInterner) term(x any, shared bool) *ast.Term {
	switch v := x.(type) {
	case nil:
		return ast.InternedNullTerm
	case bool:
		return ast.InternedTerm(v)
	case string:
		if shared {
			return t.str(v)
		}
		return ast.StringTerm(v)
	case json.Number:
		if n := ast.InternedIntNumberTermFromString(string(v)); n != nil {
			return n
		}
		return ast.NumberTerm(v)
	case []any:
		if len(v) == 0 {
			return ast.InternedEmptyArray
		}
		elems := make([]*ast.Term, len(v))
		for i, e := range v {
			elems[i] = t.term(e, false)
		}
		return ast.ArrayTerm(elems...)
	case map[string]any:
		if len(v) == 0 {
			return ast.InternedEmptyObject
		}
		items := make([][2]*ast.Term, 0, len(v))
		for k, e := range v {
			et := t.term(e, sharedValue(k))
			if k == "conditions" { // routes' and includes' match conditions: few distinct ones
				et = t.shared(et)
			}
			items = append(items, [2]*ast.Term{t.str(k), et})
		}
		return ast.ObjectTerm(items...)
	default: // util.UnmarshalJSON yields nothing else
		if val, err := ast.InterfaceToValue(v); err == nil {
			return ast.NewTerm(val)
		}
		return ast.InternedNullTerm
	}
}
