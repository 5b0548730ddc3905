package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
)

// maxAffected bounds how many other proxies one decision re-judges.
const maxAffected = 256

// Impact effects: what a change does to an object that is not itself changed.
const (
	effectIncludeNotFound = "includeNotFound" // an includer's include will point at nothing
	effectOrphaned        = "orphaned"        // a proxy will no longer be reached from a root
	effectDelegationLost  = "delegationLost"  // a proxy will lose the right to use a secret
)

// impact lists what a delete or a delegation change does to other live objects, so
// admission can warn about it (and admin policies can deny it).
type impact struct {
	items   []impactItem
	touched []Key // every proxy whose judgement may change, including the harmless ones
}

type impactItem struct {
	Proxy  Key
	Effect string
	FQDNs  []string
	Secret *Key
}

func (im *impact) value() *ast.Term {
	return object(item("affected", array(im.items, func(it impactItem) *ast.Term {
		return object(item("proxy", keyTerm(it.Proxy)), item("effect", str(it.Effect)), item("fqdns", array(it.FQDNs, str)), item("secret", optionalKey(it.Secret)))
	})))
}

func (im *impact) proxies() []Key { return im.touched }

// fqdnsServing returns the fqdns of the live roots that reach e.
func fqdnsServing(v view, s Settings, e *proxyEntry) []string {
	rs, _ := reach(v, s, e)
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.FQDN) {
			out = append(out, r.FQDN)
		}
	}
	slices.Sort(out)
	return out
}

// proxyDeleteImpact describes deleting old: includers left with a dangling include, and
// descendants that lose their last path from a root.
func proxyDeleteImpact(before *Inventory, after view, s Settings, old *proxyEntry) *impact {
	im := &impact{}
	for _, ik := range before.includersOf(old.key) {
		in := before.proxy(ik)
		if in == nil {
			continue
		}
		if fq := fqdnsServing(before, s, in); len(fq) > 0 {
			im.items = append(im.items, impactItem{Proxy: ik, Effect: effectIncludeNotFound, FQDNs: fq})
		}
	}
	im.items = append(im.items, orphanedDescendants(before, after, s, old.key)...)
	return im
}

// proxyUpdateImpact describes replacing old: descendants that lose their last path from a
// root (an include removed, an fqdn given up, a root made a child).
func proxyUpdateImpact(before *Inventory, after view, s Settings, old *proxyEntry) *impact {
	return &impact{items: orphanedDescendants(before, after, s, old.key)}
}

// orphanedDescendants lists the descendants of k that a live root reaches before the change
// and none reaches after it.
func orphanedDescendants(before *Inventory, after view, s Settings, k Key) []impactItem {
	var items []impactItem
	for _, dk := range descendants(before, k) {
		de := before.proxy(dk)
		if de == nil || de.root {
			continue
		}
		was := fqdnsServing(before, s, de)
		if now := after.proxy(dk); len(was) > 0 && now != nil && len(fqdnsServing(after, s, now)) == 0 {
			items = append(items, impactItem{Proxy: dk, Effect: effectOrphaned, FQDNs: was})
		}
	}
	return items
}

// descendants returns the proxies reachable through includes from k (not k itself), sorted.
func descendants(v view, k Key) []Key {
	seen := map[Key]bool{k: true}
	var out []Key
	queue := []Key{k}
	for len(queue) > 0 && len(out) < maxAffected {
		e := v.proxy(queue[0])
		queue = queue[1:]
		if e == nil {
			continue
		}
		for _, t := range e.includes {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
				queue = append(queue, t)
			}
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// affectedByProxy lists the proxies whose judgement a change of proxy k may alter: its
// includers, its descendants and the roots sharing its fqdn, before and after the change.
func affectedByProxy(before *Inventory, after view, k Key) []Key {
	var keys []Key
	for _, v := range []view{before, after} {
		keys = append(keys, v.includersOf(k)...)
		keys = append(keys, descendants(v, k)...)
		if e := v.proxy(k); e != nil && e.root {
			for _, r := range v.rootsFor(e.fqdn) {
				keys = append(keys, r.key)
				keys = append(keys, descendants(v, r.key)...)
			}
		}
	}
	slices.SortFunc(keys, compareKeys)
	keys = slices.Compact(keys)
	if len(keys) > maxAffected {
		keys = keys[:maxAffected]
	}
	return keys
}

// delegationImpact describes replacing delegation old with new (either may be nil): the
// proxies that lose a secret they use, and every proxy whose permission changes.
func delegationImpact(before *Inventory, after view, s Settings, old, new *contourv1.TLSCertificateDelegation) *impact {
	im := &impact{}
	var secrets []Key
	for _, d := range []*contourv1.TLSCertificateDelegation{old, new} {
		if d == nil {
			continue
		}
		for _, g := range d.Spec.Delegations {
			secrets = append(secrets, Key{d.Namespace, g.SecretName})
		}
	}
	slices.SortFunc(secrets, compareKeys)
	for _, sk := range slices.Compact(secrets) {
		users := before.secretUsers[sk]
		if s.FallbackCertificate != nil && *s.FallbackCertificate == sk {
			users = mergeSets(users, before.secretUsers[fallbackUsers])
		}
		for _, u := range sortedSet(users) {
			if u.Namespace == sk.Namespace {
				continue
			}
			had, has := delegated(before, sk, u.Namespace), delegated(after, sk, u.Namespace)
			if had == has {
				continue
			}
			im.touched = append(im.touched, u)
			e := before.proxy(u)
			if had && e != nil {
				secret := sk
				im.items = append(im.items, impactItem{Proxy: u, Effect: effectDelegationLost, FQDNs: fqdnsServing(before, s, e), Secret: &secret})
			}
			im.touched = append(im.touched, descendants(before, u)...)
		}
	}
	slices.SortFunc(im.touched, compareKeys)
	im.touched = slices.Compact(im.touched)
	return im
}

// delegationFacts are input.facts for a TLSCertificateDelegation.
func delegationFacts(v view, t *contourv1.TLSCertificateDelegation) *ast.Term {
	return object(item("grants", array(t.Spec.Delegations, func(g contourv1.CertificateDelegation) *ast.Term {
		k := Key{t.Namespace, g.SecretName}
		return object(item("secret", keyTerm(k)), item("secretName", str(g.SecretName)),
			item("targetNamespaces", array(g.TargetNamespaces, str)),
			item("wildcard", boolean(len(g.TargetNamespaces) == 1 && g.TargetNamespaces[0] == "*")),
			item("mixedWildcard", boolean(len(g.TargetNamespaces) > 1 && slices.Contains(g.TargetNamespaces, "*"))),
			item("secretExists", boolean(v.secretExists(k))))
	})))
}

func mergeSets(a, b map[Key]bool) map[Key]bool {
	out := make(map[Key]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func sortedSet(m map[Key]bool) []Key {
	out := make([]Key, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out
}
