package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// maxBuiltinQueries bounds the prepared queries builtinPolicies keeps, one per combination
// of rule sets that may apply. Real inputs fall into a few dozen combinations; past the
// bound, a new combination evaluates every set (the answer is the same, only slower).
const maxBuiltinQueries = 256

// builtinPolicies evaluates the deny and warn sets of Warden's built-in packages.
//
// Every built-in rule opens with guards that OPA's rule index decides from the input alone
// (rego/doc.go), so for a given input most sets certainly hold nothing. Evaluating a set
// that holds nothing still costs its bookkeeping (a rule-index lookup, a cache entry, an
// empty set, its conversion to Go), and with 15 sets that was most of a judgement. So the
// sets' rule indexes are asked first, in Go, and the query names only the sets with a
// candidate rule. The index is the one evaluation itself consults, so a set left out would
// have evaluated to the empty set.
//
// builtinPolicies is safe for concurrent use.
type builtinPolicies struct {
	compiler *ast.Compiler
	store    storage.Store
	sets     []builtinSet // deny sets, then warn sets, each sorted by package

	mu      sync.RWMutex
	queries map[uint64]*rego.PreparedEvalQuery // by the bit mask of sets named
}

// builtinSet is one package's deny or warn rules.
type builtinSet struct {
	ref   string // e.g. data.warden.builtin.tls.deny
	deny  bool
	index ast.RuleIndex
}

func newBuiltinPolicies(c *ast.Compiler, store storage.Store, mods map[string]*ast.Module) (*builtinPolicies, error) {
	b := &builtinPolicies{compiler: c, store: store, queries: map[uint64]*rego.PreparedEvalQuery{}}
	for _, name := range []string{"deny", "warn"} {
		var refs []string
		for _, m := range mods {
			pkg := m.Package.Path.String()
			if !strings.HasPrefix(pkg, "data.warden.builtin.") {
				continue
			}
			ref := pkg + "." + name
			if !slices.Contains(refs, ref) && slices.ContainsFunc(m.Rules, func(r *ast.Rule) bool { return r.Head.Name.String() == name }) {
				refs = append(refs, ref)
			}
		}
		slices.Sort(refs)
		for _, ref := range refs {
			idx := c.RuleIndex(ast.MustParseRef(ref))
			if idx == nil {
				return nil, fmt.Errorf("%s has no rule index", ref)
			}
			b.sets = append(b.sets, builtinSet{ref: ref, deny: name == "deny", index: idx})
		}
	}
	if len(b.sets) > 64 {
		return nil, fmt.Errorf("%d built-in rule sets do not fit a 64-bit mask", len(b.sets))
	}
	return b, nil
}

// all is the mask naming every set.
func (b *builtinPolicies) all() uint64 { return 1<<len(b.sets) - 1 }

// evaluate returns the built-in deny and warn violations for input.
func (b *builtinPolicies) evaluate(ctx context.Context, txn storage.Transaction, input ast.Value) (deny, warn []Violation, err error) {
	return b.evaluateSets(ctx, txn, input, b.candidates(input))
}

// evaluateSets evaluates the sets in mask.
func (b *builtinPolicies) evaluateSets(ctx context.Context, txn storage.Transaction, input ast.Value, mask uint64) (deny, warn []Violation, err error) {
	if mask == 0 {
		return nil, nil, nil
	}
	q, err := b.query(ctx, txn, mask)
	if err != nil {
		return nil, nil, err
	}
	rs, err := q.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTransaction(txn))
	if err != nil || len(rs) != 1 {
		return nil, nil, err
	}
	return builtinViolations(rs[0].Bindings["deny"]), builtinViolations(rs[0].Bindings["warn"]), nil
}

// candidates returns the mask of the sets whose rule index yields a rule for input.
func (b *builtinPolicies) candidates(input ast.Value) uint64 {
	r := inputResolver{input: input}
	var mask uint64
	for i, s := range b.sets {
		res, err := s.index.Lookup(r)
		if err != nil || len(res.Rules) > 0 || len(res.Else) > 0 {
			mask |= 1 << i
		}
		if res != nil {
			ast.IndexResultPool.Put(res)
		}
	}
	return mask
}

// query returns the prepared query naming the sets in mask, preparing it on first use
// inside txn, the caller's open read transaction. Preparing without it would open a second
// read transaction on the same goroutine: the store's lock is a sync.RWMutex, so a data
// write (a namespace or inventory change) queued between the two would deadlock both.
func (b *builtinPolicies) query(ctx context.Context, txn storage.Transaction, mask uint64) (*rego.PreparedEvalQuery, error) {
	b.mu.RLock()
	q, ok := b.queries[mask]
	full := len(b.queries) >= maxBuiltinQueries
	b.mu.RUnlock()
	if ok {
		return q, nil
	}
	if full && mask != b.all() {
		return b.query(ctx, txn, b.all())
	}
	pq, err := rego.New(rego.Compiler(b.compiler), rego.Store(b.store), rego.Transaction(txn),
		rego.Query(b.queryText(mask))).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing built-in policies: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.queries[mask]; ok {
		return q, nil
	}
	b.queries[mask] = &pq
	return &pq, nil
}

// queryText collects the named sets by reference, as one array of sets for deny and one for
// warn, which Go flattens (builtinViolations). Naming each package is several times faster
// than enumerating data.warden.builtin[p]; an array is faster than a union of the sets,
// each of which made a new set.
func (b *builtinPolicies) queryText(mask uint64) string {
	var deny, warn []string
	for i, s := range b.sets {
		switch {
		case mask&(1<<i) == 0:
		case s.deny:
			deny = append(deny, s.ref)
		default:
			warn = append(warn, s.ref)
		}
	}
	return "deny := [" + strings.Join(deny, ", ") + "]; warn := [" + strings.Join(warn, ", ") + "]"
}

// builtinViolations flattens the array of the built-in packages' sets (queryText).
func builtinViolations(v any) []Violation {
	sets, _ := v.([]any)
	var out []Violation
	for _, set := range sets {
		out = append(out, violations(set, "")...)
	}
	return out
}

// inputResolver resolves the references a rule index looks up: those into the input.
// Anything else is unknown, which makes the index keep the rules that depend on it.
type inputResolver struct{ input ast.Value }

func (r inputResolver) Resolve(ref ast.Ref) (ast.Value, error) {
	if !ref[0].Equal(ast.InputRootDocument) {
		return nil, ast.UnknownValueErr{}
	}
	v, err := r.input.Find(ref[1:])
	if err != nil {
		return nil, nil // undefined
	}
	return v, nil
}
