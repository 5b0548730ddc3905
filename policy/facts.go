package policy

import (
	"slices"
	"strings"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
)

// Bounds on graph walks, so a hostile or accidental include graph cannot make one decision
// expensive. Hitting one sets Facts.ReachTruncated; the decision stays correct for what was
// walked and says so.
const (
	maxReachPaths = 32   // include paths recorded per proxy
	maxWalkSteps  = 4096 // nodes visited per walk
	maxCycles     = 8    // cycles recorded per proxy
)

// Facts are what Warden computes in Go about one HTTPProxy, from the inventory or from the
// inventory with a proposed change. The Rego policies decide from these facts; admin
// policies see them as input.facts.
type Facts struct {
	// Root is true when the proxy has a virtualhost.
	Root bool
	// FQDN is the lower-cased virtualhost fqdn of a root.
	FQDN string
	// RootNamespaceAllowed is false for a root outside the configured root namespaces.
	RootNamespaceAllowed bool
	// FQDNOwner is the root that owns FQDN: the oldest root claiming it from an allowed root
	// namespace (creation time, then namespace/name). Nil when no such root exists.
	FQDNOwner *Key
	// FQDNClaimants are every root in an allowed root namespace claiming FQDN, oldest first.
	FQDNClaimants []Key
	// Includes describes each entry of spec.includes, then tcpproxy.include if set.
	Includes []IncludeFact
	// IncludedBy are the proxies that include this one.
	IncludedBy []Key
	// Cycles are include cycles through this proxy, each starting and ending with it.
	Cycles [][]Key
	// Reach lists live roots whose include tree reaches this proxy and the path from each.
	// A live root reaches itself with a one-element path.
	Reach []Reach
	// ReachTruncated is true when a walk hit its bound and Reach may be incomplete.
	ReachTruncated bool
	// Orphaned is true for a non-root that no live root reaches.
	Orphaned bool
	// Secrets lists every TLS secret the proxy references and whether it may use it.
	Secrets []SecretFact
	// Services lists every backend Service reference and whether it resolves.
	Services []ServiceFact
	// RouteConditionErrors are problems with a route's own conditions.
	RouteConditionErrors []RouteConditionError
	// ChainConflicts are header or query conditions that conflict only once merged with an
	// includer's conditions along some include path.
	ChainConflicts []ChainConflict
	// PermitInsecureRoutes are the indexes of routes that set permitInsecure.
	PermitInsecureRoutes []int
}

// IncludeFact describes one include of the proxy.
type IncludeFact struct {
	Index  int
	Target Key
	// TCP marks tcpproxy.include (which has no conditions).
	TCP bool
	// Found is false when no HTTPProxy with that name exists (yet).
	Found bool
	// TargetIsRoot is true when the target has a virtualhost.
	TargetIsRoot bool
	// ConditionErrors are problems with this include's own conditions.
	ConditionErrors []conditionError
	// DuplicateOf is the index of an earlier sibling include with identical conditions, or -1.
	DuplicateOf int
}

// usable reports whether Contour would follow this include.
func (f IncludeFact) usable() bool { return len(f.ConditionErrors) == 0 && f.DuplicateOf < 0 }

// Reach is one include path from a live root to the proxy.
type Reach struct {
	Root Key
	FQDN string
	// Path runs from the root to the proxy.
	Path []Key
	// Conditions are the include conditions along Path, root first.
	Conditions []contourv1.MatchCondition
}

// SecretFact is one TLS secret reference.
type SecretFact struct {
	// Use is vhost, fallback, clientCA, crl, upstreamCA or jwksCA.
	Use string
	// Field is the referencing field path, for messages.
	Field string
	// Ref is the reference as written.
	Ref    string
	Secret Key
	// CrossNamespace is true when the secret lives outside the proxy's namespace.
	CrossNamespace bool
	// Delegated is true when the proxy may use the secret: same namespace, or a
	// TLSCertificateDelegation in the secret's namespace grants the proxy's namespace.
	Delegated bool
	// Exists is true when the Secret is in the inventory.
	Exists bool
}

// ServiceFact is one backend Service reference of a route or the tcpproxy.
type ServiceFact struct {
	// Route is the route index, or -1 for tcpproxy services.
	Route   int
	Service Key
	Port    int
	Found   bool
	// PortFound is true when the Service has a TCP port with that number.
	PortFound bool
}

// RouteConditionError is a problem with a route's own conditions.
type RouteConditionError struct {
	Route int
	conditionError
}

// ChainConflict is a route whose conditions conflict with its includers' along Path.
type ChainConflict struct {
	Route int
	Path  []Key
	conditionError
}

// readFrom lists the other objects these facts were computed from: include targets and
// includers, fqdn claimants, cycle members, and the delegations of every cross-namespace
// secret (all of a namespace's, since any of them may grant).
func (f *Facts) readFrom() []Ref {
	var refs []Ref
	proxy := func(k Key) { refs = append(refs, Ref{Kind: "HTTPProxy", Key: k}) }
	for _, i := range f.Includes {
		proxy(i.Target)
	}
	for _, k := range f.IncludedBy {
		proxy(k)
	}
	for _, k := range f.FQDNClaimants {
		proxy(k)
	}
	for _, c := range f.Cycles {
		for _, k := range c {
			proxy(k)
		}
	}
	for _, s := range f.Secrets {
		if s.CrossNamespace {
			refs = append(refs, Ref{Kind: "TLSCertificateDelegation", Key: Key{Namespace: s.Secret.Namespace}})
		}
	}
	slices.SortFunc(refs, func(a, b Ref) int {
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind)
		}
		return compareKeys(a.Key, b.Key)
	})
	return slices.Compact(refs)
}

// computeFacts derives the facts of the proxy e (which must be in v).
func computeFacts(v view, s Settings, e *proxyEntry) *Facts {
	f := &Facts{Root: e.root, FQDN: e.fqdn, RootNamespaceAllowed: !e.root || s.rootAllowed(e.key.Namespace)}
	if e.root {
		f.FQDNClaimants, f.FQDNOwner = fqdnClaimants(v, s, e.fqdn)
	}
	f.Includes = includeFacts(v, e)
	f.IncludedBy = v.includersOf(e.key)
	f.Cycles = cyclesThrough(v, e.key)
	f.Reach, f.ReachTruncated = reach(v, s, e)
	f.Orphaned = !e.root && len(f.Reach) == 0 && !f.ReachTruncated
	f.Secrets = secretFacts(v, s, e)
	f.Services = serviceFacts(v, e)
	for i, r := range e.obj.Spec.Routes {
		for _, ce := range routeConditionErrors(r.Conditions) {
			f.RouteConditionErrors = append(f.RouteConditionErrors, RouteConditionError{i, ce})
		}
		if r.PermitInsecure {
			f.PermitInsecureRoutes = append(f.PermitInsecureRoutes, i)
		}
	}
	f.ChainConflicts = chainConflicts(e, f)
	return f
}

func fqdnClaimants(v view, s Settings, fqdn string) ([]Key, *Key) {
	var claimants []Key
	for _, r := range v.rootsFor(fqdn) {
		if fqdn != "" && s.rootAllowed(r.key.Namespace) {
			claimants = append(claimants, r.key)
		}
	}
	if len(claimants) == 0 {
		return nil, nil
	}
	owner := claimants[0]
	return claimants, &owner
}

// liveRoot reports whether root r serves its vhost, so that proxies it includes are reached:
// it has an fqdn, lives in a root namespace, owns the fqdn and may use its TLS secret.
func liveRoot(v view, s Settings, r *proxyEntry) bool {
	if !r.root || r.fqdn == "" || !s.rootAllowed(r.key.Namespace) {
		return false
	}
	if _, owner := fqdnClaimants(v, s, r.fqdn); owner == nil || *owner != r.key {
		return false
	}
	if tls := r.obj.Spec.VirtualHost.TLS; tls != nil && tls.SecretName != "" {
		return delegated(v, secretRef(tls.SecretName, r.key.Namespace), r.key.Namespace)
	}
	return true
}

func includeFacts(v view, e *proxyEntry) []IncludeFact {
	facts := slices.Clone(e.localIncludes())
	for i := range facts {
		if t := v.proxy(facts[i].Target); t != nil {
			facts[i].Found, facts[i].TargetIsRoot = true, t.root
		}
	}
	return facts
}

// localIncludes returns the include facts that depend on the proxy alone (conditions and
// sibling duplicates), computed once per stored version.
func (e *proxyEntry) localIncludes() []IncludeFact {
	e.includesOnce.Do(func() {
		spec := e.obj.Spec
		facts := make([]IncludeFact, 0, len(e.includes))
		seen := map[string]int{}
		for i, inc := range spec.Includes {
			f := IncludeFact{Index: i, Target: e.includes[i], DuplicateOf: -1}
			f.ConditionErrors = includeConditionErrors(inc.Conditions)
			if len(f.ConditionErrors) == 0 {
				if sig := includeConditionsSignature(inc.Conditions); sig != "" {
					if j, dup := seen[sig]; dup {
						f.DuplicateOf = j
					} else {
						seen[sig] = i
					}
				}
			}
			facts = append(facts, f)
		}
		if len(e.includes) > len(spec.Includes) {
			facts = append(facts, IncludeFact{Target: e.includes[len(spec.Includes)], TCP: true, DuplicateOf: -1})
		}
		e.includeFacts = facts
	})
	return e.includeFacts
}

// usableIncludes returns, for includer e, the indexes of usable includes that target t.
func usableIncludes(e *proxyEntry, t Key) []int {
	var out []int
	for i, f := range e.localIncludes() {
		if f.Target == t && f.usable() {
			out = append(out, i)
		}
	}
	return out
}

// reach walks include edges upwards from e to the live roots that reach it.
func reach(v view, s Settings, e *proxyEntry) ([]Reach, bool) {
	if e.root {
		if liveRoot(v, s, e) {
			return []Reach{{Root: e.key, FQDN: e.fqdn, Path: []Key{e.key}}}, false
		}
		return nil, false
	}
	w := &reachWalk{v: v, s: s}
	w.up(e, []Key{e.key}, nil)
	slices.SortFunc(w.out, func(a, b Reach) int { return slices.CompareFunc(a.Path, b.Path, compareKeys) })
	return w.out, w.truncated
}

type reachWalk struct {
	v         view
	s         Settings
	out       []Reach
	steps     int
	truncated bool
}

// up extends the reversed path (proxy first) and its reversed conditions by every usable
// include edge into node.
func (w *reachWalk) up(node *proxyEntry, path []Key, conds [][]contourv1.MatchCondition) {
	for _, ik := range w.v.includersOf(node.key) {
		if w.steps++; w.steps > maxWalkSteps || len(w.out) >= maxReachPaths {
			w.truncated = true
			return
		}
		if slices.Contains(path, ik) {
			continue // a cycle: reported by cyclesThrough, never a path from a root
		}
		in := w.v.proxy(ik)
		if in == nil {
			continue
		}
		for _, idx := range usableIncludes(in, node.key) {
			var c []contourv1.MatchCondition
			if idx < len(in.obj.Spec.Includes) {
				c = in.obj.Spec.Includes[idx].Conditions
			}
			p := append(slices.Clone(path), ik)
			cc := append(slices.Clone(conds), c)
			if in.root {
				if liveRoot(w.v, w.s, in) {
					w.out = append(w.out, newReach(in, p, cc))
				}
				continue
			}
			w.up(in, p, cc)
		}
	}
}

func newReach(root *proxyEntry, reversed []Key, conds [][]contourv1.MatchCondition) Reach {
	r := Reach{Root: root.key, FQDN: root.fqdn, Path: slices.Clone(reversed)}
	slices.Reverse(r.Path)
	for i := len(conds) - 1; i >= 0; i-- {
		r.Conditions = append(r.Conditions, conds[i]...)
	}
	return r
}

// cyclesThrough finds include cycles that pass through k, following every include edge.
func cyclesThrough(v view, k Key) [][]Key {
	start := v.proxy(k)
	if start == nil {
		return nil
	}
	var cycles [][]Key
	visited := map[Key]bool{}
	parent := map[Key]Key{}
	steps := 0
	var dfs func(n Key) bool
	dfs = func(n Key) bool {
		if steps++; steps > maxWalkSteps {
			return false
		}
		e := v.proxy(n)
		if e == nil {
			return false
		}
		for _, t := range e.includes {
			if t == k {
				cycles = append(cycles, cyclePath(parent, k, n))
				return true
			}
			if visited[t] {
				continue
			}
			visited[t] = true
			parent[t] = n
			if dfs(t) {
				return true
			}
		}
		return false
	}
	for _, t := range uniqueKeys(start.includes) {
		if len(cycles) >= maxCycles {
			break
		}
		if t == k {
			cycles = append(cycles, []Key{k, k})
			continue
		}
		if visited[t] {
			continue
		}
		visited[t] = true
		parent[t] = k
		dfs(t)
	}
	return cycles
}

// cyclePath rebuilds k -> ... -> last -> k from DFS parent links.
func cyclePath(parent map[Key]Key, k, last Key) []Key {
	path := []Key{k}
	for n := last; n != k; n = parent[n] {
		path = append(path, n)
	}
	slices.Reverse(path[1:])
	return append(path, k)
}

func uniqueKeys(keys []Key) []Key {
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
