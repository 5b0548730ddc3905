package policy

import (
	"slices"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
)

// view is what graph facts read: the stored inventory, or the inventory with one proposed
// change laid over it. Callers hold the inventory's read lock.
type view interface {
	proxy(k Key) *proxyEntry
	includersOf(k Key) []Key
	rootsFor(fqdn string) []*proxyEntry
	grantsFor(secret Key) map[Key][]string
	namespaceLabels(ns string) (map[string]string, bool)
	service(k Key) *corev1.Service
	secretExists(k Key) bool
}

func (inv *Inventory) proxy(k Key) *proxyEntry { return inv.proxies[k] }

func (inv *Inventory) includersOf(k Key) []Key {
	m := inv.includers[k]
	out := make([]Key, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	slices.SortFunc(out, compareKeys)
	return out
}

func (inv *Inventory) rootsFor(fqdn string) []*proxyEntry { return inv.fqdnRoots[fqdn] }

func (inv *Inventory) grantsFor(s Key) map[Key][]string { return inv.grants[s] }

func (inv *Inventory) namespaceLabels(ns string) (map[string]string, bool) {
	l, ok := inv.namespaces[ns]
	return l, ok
}

func (inv *Inventory) service(k Key) *corev1.Service { return inv.services[k] }

func (inv *Inventory) secretExists(k Key) bool {
	_, ok := inv.secrets[k]
	return ok
}

// overlay is the inventory with one HTTPProxy or TLSCertificateDelegation replaced or
// removed, without touching the inventory: admission asks "what if", the API server decides.
type overlay struct {
	*Inventory

	proxyKey *Key        // the HTTPProxy being changed, if any
	newProxy *proxyEntry // its proposed version; nil when it is being deleted

	delegationKey *Key                                // the delegation being changed, if any
	newDelegation *contourv1.TLSCertificateDelegation // nil when it is being deleted
}

func (o *overlay) proxy(k Key) *proxyEntry {
	if o.proxyKey != nil && k == *o.proxyKey {
		return o.newProxy
	}
	return o.Inventory.proxy(k)
}

func (o *overlay) includersOf(k Key) []Key {
	base := o.Inventory.includersOf(k)
	if o.proxyKey == nil {
		return base
	}
	changed := *o.proxyKey
	base = slices.DeleteFunc(base, func(i Key) bool { return i == changed })
	if o.newProxy != nil && slices.Contains(o.newProxy.includes, k) {
		base = append(base, changed)
		slices.SortFunc(base, compareKeys)
	}
	return base
}

func (o *overlay) rootsFor(fqdn string) []*proxyEntry {
	roots := o.Inventory.rootsFor(fqdn)
	if o.proxyKey == nil {
		return roots
	}
	if old := o.Inventory.proxy(*o.proxyKey); old != nil && old.root && old.fqdn == fqdn {
		roots = removeEntry(roots, old.key)
	}
	if n := o.newProxy; n != nil && n.root && n.fqdn == fqdn {
		roots = insertByAge(roots, n)
	}
	return roots
}

func (o *overlay) grantsFor(s Key) map[Key][]string {
	base := o.Inventory.grantsFor(s)
	if o.delegationKey == nil || s.Namespace != o.delegationKey.Namespace {
		return base
	}
	out := make(map[Key][]string, len(base)+1)
	for k, v := range base {
		if k != *o.delegationKey {
			out[k] = v
		}
	}
	if d := o.newDelegation; d != nil {
		for _, g := range d.Spec.Delegations {
			if g.SecretName == s.Name {
				out[*o.delegationKey] = append(out[*o.delegationKey], g.TargetNamespaces...)
			}
		}
	}
	return out
}
