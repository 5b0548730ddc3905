package policy

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Inventory is the indexed, in-memory view of the objects Warden's rules read. It is updated
// one object at a time; each update touches only the index entries of that object, never
// the whole inventory.
//
// Inventory is safe for concurrent use. Stored objects are treated as immutable: callers
// must not modify an object after handing it to the inventory.
type Inventory struct {
	mu sync.RWMutex

	proxies   map[Key]*proxyEntry
	includers map[Key]map[Key]int      // include target -> includer -> number of includes
	fqdnRoots map[string][]*proxyEntry // lower-cased fqdn -> roots claiming it, oldest first

	delegations map[Key]*contourv1.TLSCertificateDelegation
	grants      map[Key]map[Key][]string // secret -> delegation -> target namespaces
	secretUsers map[Key]map[Key]bool     // secret (or fallbackUsers) -> proxies referencing it

	namespaces map[string]map[string]string // namespace -> labels
	services   map[Key]*corev1.Service
	secrets    map[Key]corev1.SecretType // metadata only; "" when the type is unknown

	terms *termInterner // shared by the Rego inputs of the proxies (proxyEntry.objectValue)

	generation uint64
}

// NewInventory returns an empty inventory.
func NewInventory() *Inventory {
	return &Inventory{
		proxies:     map[Key]*proxyEntry{},
		includers:   map[Key]map[Key]int{},
		fqdnRoots:   map[string][]*proxyEntry{},
		delegations: map[Key]*contourv1.TLSCertificateDelegation{},
		grants:      map[Key]map[Key][]string{},
		secretUsers: map[Key]map[Key]bool{},
		namespaces:  map[string]map[string]string{},
		services:    map[Key]*corev1.Service{},
		secrets:     map[Key]corev1.SecretType{},
		terms:       &termInterner{},
	}
}

// Generation counts the changes applied so far; it lets callers tell whether anything changed.
func (inv *Inventory) Generation() uint64 {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.generation
}

// Apply stores obj, replacing any earlier version with the same kind, namespace and name.
// Kinds the inventory does not index are ignored and reported as false.
func (inv *Inventory) Apply(obj client.Object) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	switch o := obj.(type) {
	case *contourv1.HTTPProxy:
		old := inv.proxies[Key{o.Namespace, o.Name}]
		if old != nil && olderVersion(o, old.obj) {
			return true
		}
		e := newProxyEntry(o)
		if old != nil && sameDecisionInputs(old.obj, o) {
			// A status write: keep the Rego input built for the previous version (a JSON
			// round trip, about half of a judgement) instead of building it again.
			v := old.objectValue(inv.terms)
			e.valueOnce.Do(func() { e.value = v })
		}
		inv.putProxy(e)
	case *contourv1.TLSCertificateDelegation:
		if old := inv.delegations[Key{o.Namespace, o.Name}]; old != nil && olderVersion(o, old) {
			return true
		}
		inv.putDelegation(o)
	case *corev1.Namespace:
		inv.namespaces[o.Name] = o.Labels
	case *corev1.Service:
		inv.services[Key{o.Namespace, o.Name}] = o
	case *corev1.Secret:
		inv.secrets[Key{o.Namespace, o.Name}] = o.Type
	default:
		return false
	}
	inv.generation++
	return true
}

// sameDecisionInputs reports whether two versions of an HTTPProxy give the same Rego input
// (objectValue): the same spec (generation) and the same metadata apart from the
// resourceVersion and managedFields — what a status write changes.
func sameDecisionInputs(a, b *contourv1.HTTPProxy) bool {
	if a.Generation == 0 || a.Generation != b.Generation {
		return false
	}
	ma, mb := a.ObjectMeta, b.ObjectMeta
	ma.ResourceVersion, mb.ResourceVersion = "", ""
	ma.ManagedFields, mb.ManagedFields = nil, nil
	return equality.Semantic.DeepEqual(ma, mb) && equality.Semantic.DeepEqual(a.Spec, b.Spec)
}

// olderVersion reports whether obj is an older version of stored: a live read may have
// stored a newer version before the informer delivers an older event. Resource versions
// are compared as numbers when both are numbers (etcd revisions); otherwise never older.
func olderVersion(obj, stored client.Object) bool {
	a, errA := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	b, errB := strconv.ParseUint(stored.GetResourceVersion(), 10, 64)
	return errA == nil && errB == nil && a < b
}

// ApplySecretMetadata records that a Secret exists when only its metadata is known (Warden
// watches Secret metadata, not contents, until a Secret is referenced).
func (inv *Inventory) ApplySecretMetadata(k Key) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, ok := inv.secrets[k]; !ok {
		inv.secrets[k] = ""
	}
	inv.generation++
}

// Remove deletes the object of obj's kind with obj's namespace and name. Only the kind,
// namespace and name of obj are read. It does not return an error if the object is absent.
func (inv *Inventory) Remove(obj client.Object) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	k := Key{obj.GetNamespace(), obj.GetName()}
	switch obj.(type) {
	case *contourv1.HTTPProxy:
		inv.deleteProxy(k)
	case *contourv1.TLSCertificateDelegation:
		inv.deleteDelegation(k)
	case *corev1.Namespace:
		delete(inv.namespaces, obj.GetName())
	case *corev1.Service:
		delete(inv.services, k)
	case *corev1.Secret:
		delete(inv.secrets, k)
	default:
		return false
	}
	inv.generation++
	return true
}

// Proxy returns the stored HTTPProxy with key k, or nil.
func (inv *Inventory) Proxy(k Key) *contourv1.HTTPProxy {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	if e := inv.proxies[k]; e != nil {
		return e.obj
	}
	return nil
}

// ProxyKeys returns the keys of every stored HTTPProxy, sorted by namespace and name.
func (inv *Inventory) ProxyKeys() []Key {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	keys := make([]Key, 0, len(inv.proxies))
	for k := range inv.proxies {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

// SecretKeys returns the keys of every Secret known to exist, sorted.
func (inv *Inventory) SecretKeys() []Key {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	keys := make([]Key, 0, len(inv.secrets))
	for k := range inv.secrets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

// DelegationKeys returns the keys of the stored TLSCertificateDelegations in namespace ns.
func (inv *Inventory) DelegationKeys(ns string) []Key {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	var keys []Key
	for k := range inv.delegations {
		if k.Namespace == ns {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

// Len returns the number of stored HTTPProxies.
func (inv *Inventory) Len() int {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return len(inv.proxies)
}

func (inv *Inventory) putProxy(e *proxyEntry) {
	inv.deleteProxy(e.key)
	inv.proxies[e.key] = e
	for _, t := range e.includes {
		m := inv.includers[t]
		if m == nil {
			m = map[Key]int{}
			inv.includers[t] = m
		}
		m[e.key]++
	}
	if e.root {
		inv.fqdnRoots[e.fqdn] = insertByAge(inv.fqdnRoots[e.fqdn], e)
	}
	for _, s := range e.secrets {
		m := inv.secretUsers[s]
		if m == nil {
			m = map[Key]bool{}
			inv.secretUsers[s] = m
		}
		m[e.key] = true
	}
}

func (inv *Inventory) deleteProxy(k Key) {
	old := inv.proxies[k]
	if old == nil {
		return
	}
	delete(inv.proxies, k)
	for _, t := range old.includes {
		if m := inv.includers[t]; m != nil {
			if m[k]--; m[k] <= 0 {
				delete(m, k)
			}
			if len(m) == 0 {
				delete(inv.includers, t)
			}
		}
	}
	for _, s := range old.secrets {
		if m := inv.secretUsers[s]; m != nil {
			if delete(m, k); len(m) == 0 {
				delete(inv.secretUsers, s)
			}
		}
	}
	if old.root {
		roots := removeEntry(inv.fqdnRoots[old.fqdn], k)
		if len(roots) == 0 {
			delete(inv.fqdnRoots, old.fqdn)
		} else {
			inv.fqdnRoots[old.fqdn] = roots
		}
	}
}

func (inv *Inventory) putDelegation(d *contourv1.TLSCertificateDelegation) {
	k := Key{d.Namespace, d.Name}
	inv.deleteDelegation(k)
	inv.delegations[k] = d
	for _, g := range d.Spec.Delegations {
		s := Key{d.Namespace, g.SecretName}
		m := inv.grants[s]
		if m == nil {
			m = map[Key][]string{}
			inv.grants[s] = m
		}
		m[k] = append(m[k], g.TargetNamespaces...)
	}
}

func (inv *Inventory) deleteDelegation(k Key) {
	old := inv.delegations[k]
	if old == nil {
		return
	}
	delete(inv.delegations, k)
	for _, g := range old.Spec.Delegations {
		s := Key{k.Namespace, g.SecretName}
		if m := inv.grants[s]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(inv.grants, s)
			}
		}
	}
}

// proxyEntry is a stored HTTPProxy with the fields the indexes need, derived once.
type proxyEntry struct {
	key      Key
	obj      *contourv1.HTTPProxy
	root     bool
	fqdn     string // lower-cased
	includes []Key  // include targets in spec order, namespace defaulted
	secrets  []Key  // TLS secrets referenced; fallbackUsers when it asks for the fallback certificate
	created  time.Time

	includesOnce sync.Once
	includeFacts []IncludeFact // local include facts, built on first use

	valueOnce sync.Once
	value     ast.Value // the object as Rego input, built on first use
}

// newest stands in for the creation time of an object the API server has not stored yet:
// it is younger than everything stored.
var newest = time.Unix(1<<62, 0)

func newProxyEntry(p *contourv1.HTTPProxy) *proxyEntry {
	e := &proxyEntry{key: Key{p.Namespace, p.Name}, obj: p, created: p.CreationTimestamp.Time}
	if e.created.IsZero() {
		e.created = newest
	}
	if vh := p.Spec.VirtualHost; vh != nil {
		e.root = true
		e.fqdn = strings.ToLower(vh.Fqdn)
	}
	for _, inc := range p.Spec.Includes {
		e.includes = append(e.includes, includeKey(inc, p.Namespace))
	}
	if tcp := p.Spec.TCPProxy; tcp != nil {
		inc := tcp.Include
		if inc == nil {
			inc = tcp.IncludesDeprecated
		}
		if inc != nil {
			e.includes = append(e.includes, includeKey(contourv1.Include{Name: inc.Name, Namespace: inc.Namespace}, p.Namespace))
		}
	}
	for _, f := range secretFacts(nilView{}, Settings{FallbackCertificate: &fallbackUsers}, e) {
		e.secrets = append(e.secrets, f.Secret)
	}
	return e
}

// fallbackUsers stands for "the configured fallback certificate" in the secretUsers index,
// which is built without knowing the configuration.
var fallbackUsers = Key{Name: "<fallback-certificate>"}

// nilView is an empty view, for facts that depend on the proxy alone.
type nilView struct{ view }

func (nilView) proxy(Key) *proxyEntry          { return nil }
func (nilView) grantsFor(Key) map[Key][]string { return nil }
func (nilView) secretExists(Key) bool          { return false }

func includeKey(inc contourv1.Include, ns string) Key {
	if inc.Namespace != "" {
		ns = inc.Namespace
	}
	return Key{ns, inc.Name}
}

// olderThan orders roots for fqdn ownership: creation time, then namespace/name.
//
// creationTimestamp has one-second resolution, so two roots created in the same second tie
// and namespace/name decides. That must be the same on every replica and after every
// restart, which rules out the order in which informers happened to deliver them (initial
// lists arrive in no fixed order). At admission a create is always the youngest claimant,
// so the tie only matters for objects stored while the webhook was absent.
func (e *proxyEntry) olderThan(o *proxyEntry) bool {
	if !e.created.Equal(o.created) {
		return e.created.Before(o.created)
	}
	return e.key.less(o.key)
}

func insertByAge(roots []*proxyEntry, e *proxyEntry) []*proxyEntry {
	i := 0
	for i < len(roots) && roots[i].olderThan(e) {
		i++
	}
	return slices.Insert(slices.Clone(roots), i, e)
}

// removeEntry returns roots without k. It never modifies roots in place, because an
// overlay may be reading the same slice.
func removeEntry(roots []*proxyEntry, k Key) []*proxyEntry {
	return slices.DeleteFunc(slices.Clone(roots), func(e *proxyEntry) bool { return e.key == k })
}

func compareKeys(a, b Key) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
