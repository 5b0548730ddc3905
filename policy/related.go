package policy

import "slices"

// maxRelated bounds how many proxies one change re-judges; a larger tree is cut here and
// left to the next full resync.
const maxRelated = 4096

// Kinds the inventory tracks, as named by Related.
const (
	KindHTTPProxy                = "HTTPProxy"
	KindTLSCertificateDelegation = "TLSCertificateDelegation"
	KindService                  = "Service"
	KindSecret                   = "Secret"
)

// Related returns the stored HTTPProxies whose judgement a change of the object (kind, k)
// may alter, as the inventory is now: for an HTTPProxy, every proxy in the include trees it
// belongs to (up to their roots, then all their descendants) and the roots sharing its
// fqdn; for a delegation, the proxies using secrets of its namespace; for a Service, the
// proxies of its namespace routing to it; for a Secret, the proxies referencing it. Edges
// that the change removed are not visible any more: callers remember what Related returned
// last time for the same object and re-judge the union.
func (d *Decider) Related(kind string, k Key) []Key {
	d.inv.mu.RLock()
	defer d.inv.mu.RUnlock()
	inv := d.inv
	seen := map[Key]bool{}
	var out []Key
	add := func(keys ...Key) {
		for _, x := range keys {
			if !seen[x] && len(out) < maxRelated {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	switch kind {
	case KindHTTPProxy:
		inv.treesOf(k, add)
	case KindTLSCertificateDelegation:
		for s, users := range inv.secretUsers {
			if s.Namespace == k.Namespace || s == fallbackUsers {
				for u := range users {
					inv.treesOf(u, add)
				}
			}
		}
	case KindService:
		for pk, e := range inv.proxies {
			if pk.Namespace == k.Namespace && routesTo(e, k.Name) {
				add(pk)
			}
		}
	case KindSecret:
		for u := range inv.secretUsers[k] {
			inv.treesOf(u, add)
		}
		for u := range inv.secretUsers[fallbackUsers] {
			add(u)
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// treesOf adds k, everything above it up to the roots, every descendant of those, and the
// other roots claiming a root's fqdn (and their trees' roots).
func (inv *Inventory) treesOf(k Key, add func(...Key)) {
	add(k)
	up := []Key{k}
	tops := map[Key]bool{}
	visited := map[Key]bool{k: true}
	for len(up) > 0 {
		n := up[0]
		up = up[1:]
		parents := inv.includersOf(n)
		if len(parents) == 0 {
			tops[n] = true
		}
		for _, p := range parents {
			if !visited[p] {
				visited[p] = true
				up = append(up, p)
			}
		}
	}
	for t := range tops {
		add(t)
		add(descendants(inv, t)...)
		if e := inv.proxies[t]; e != nil && e.root {
			for _, r := range inv.rootsFor(e.fqdn) {
				add(r.key)
			}
		}
	}
}

func routesTo(e *proxyEntry, service string) bool {
	for _, r := range e.obj.Spec.Routes {
		for _, s := range r.Services {
			if s.Name == service {
				return true
			}
		}
	}
	if tcp := e.obj.Spec.TCPProxy; tcp != nil {
		for _, s := range tcp.Services {
			if s.Name == service {
				return true
			}
		}
	}
	return false
}
