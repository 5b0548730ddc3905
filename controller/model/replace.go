package model

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// refCounts count, for each shared item of a Model, the parts that contribute it, so that
// Replace can drop an item when its last user goes.
type refCounts struct {
	clusters    map[string]int
	endpoints   map[string]int
	secrets     map[Key]int
	unsupported map[string]int
	problems    map[string]int
}

// Replace swaps the contribution of the vhost fqdn for p, built by BuildVirtualHost from
// the current Input; a nil p removes it. Clusters, endpoints, secrets and notes that no
// vhost uses any more are dropped, and Index is updated. Shared items (a cluster used by
// several vhosts) take p's version, the most recently built.
//
// The cost is proportional to the size of the old and new parts plus the shifting of the
// sorted slices, not to a rebuild. Replace panics if p is for another fqdn.
func (m *Model) Replace(fqdn string, p *Part) {
	fqdn = strings.ToLower(fqdn)
	if p != nil && p.FQDN != fqdn {
		panic(fmt.Sprintf("model: Replace(%q) given the part of %q", fqdn, p.FQDN))
	}
	m.init()
	if old := m.parts[fqdn]; old != nil {
		m.remove(old)
		delete(m.parts, fqdn)
	}
	if p != nil {
		m.add(p)
		m.parts[fqdn] = p
	}
}

// RefreshEndpoints rebuilds, from in, the load assignments of the given Services'
// clusters: what an EndpointSlice change needs. Services without clusters are ignored.
func (m *Model) RefreshEndpoints(in Input, services ...Key) {
	for _, svc := range services {
		prefix := svc.String()
		// Names are "ns/svc" or "ns/svc/port", contiguous in the sorted slice (with other
		// services whose name starts with svc's, such as "ns/svc-b", interleaved).
		i, _ := slices.BinarySearchFunc(m.Endpoints, prefix, func(la *ClusterLoadAssignment, t string) int {
			return strings.Compare(la.Name, t)
		})
		for ; i < len(m.Endpoints) && strings.HasPrefix(m.Endpoints[i].Name, prefix); i++ {
			name := m.Endpoints[i].Name
			if port, ok := strings.CutPrefix(name, prefix+"/"); ok {
				m.Endpoints[i] = buildLoadAssignment(in, name, svc, port)
			} else if name == prefix {
				m.Endpoints[i] = buildLoadAssignment(in, name, svc, "")
			}
		}
	}
}

func (m *Model) init() {
	if m.parts != nil {
		return
	}
	m.parts = map[string]*Part{}
	m.refs = refCounts{
		clusters: map[string]int{}, endpoints: map[string]int{}, secrets: map[Key]int{},
		unsupported: map[string]int{}, problems: map[string]int{},
	}
	m.Index = Index{ProxyToFQDNs: map[Key][]string{}, ServiceToFQDNs: map[Key][]string{}, SecretToFQDNs: map[Key][]string{}}
}

func (m *Model) add(p *Part) {
	if p.VirtualHost != nil {
		m.VirtualHosts = upsert(m.VirtualHosts, p.VirtualHost, vhostFQDN, strings.Compare)
	}
	for _, c := range p.Clusters {
		m.refs.clusters[c.Name]++
		m.Clusters = upsert(m.Clusters, c, clusterKey, strings.Compare)
	}
	for _, la := range p.Endpoints {
		m.refs.endpoints[la.Name]++
		m.Endpoints = upsert(m.Endpoints, la, laName, strings.Compare)
	}
	for _, s := range p.Secrets {
		if m.refs.secrets[s.Name]++; m.refs.secrets[s.Name] == 1 {
			m.Secrets = upsert(m.Secrets, s, secretName, Key.Compare)
		}
	}
	m.Unsupported = addNotes(m.Unsupported, m.refs.unsupported, p.Unsupported)
	m.Problems = addNotes(m.Problems, m.refs.problems, p.Problems)
	indexAdd(m.Index.ProxyToFQDNs, p.Proxies, p.FQDN)
	indexAdd(m.Index.ServiceToFQDNs, p.Services, p.FQDN)
	indexAdd(m.Index.SecretToFQDNs, p.SecretRefs, p.FQDN)
}

func (m *Model) remove(p *Part) {
	if p.VirtualHost != nil {
		m.VirtualHosts = drop(m.VirtualHosts, p.FQDN, vhostFQDN, strings.Compare)
	}
	for _, c := range p.Clusters {
		if decrement(m.refs.clusters, c.Name) {
			m.Clusters = drop(m.Clusters, c.Name, clusterKey, strings.Compare)
		}
	}
	for _, la := range p.Endpoints {
		if decrement(m.refs.endpoints, la.Name) {
			m.Endpoints = drop(m.Endpoints, la.Name, laName, strings.Compare)
		}
	}
	for _, s := range p.Secrets {
		if decrement(m.refs.secrets, s.Name) {
			m.Secrets = drop(m.Secrets, s.Name, secretName, Key.Compare)
		}
	}
	m.Unsupported = removeNotes(m.Unsupported, m.refs.unsupported, p.Unsupported)
	m.Problems = removeNotes(m.Problems, m.refs.problems, p.Problems)
	indexRemove(m.Index.ProxyToFQDNs, p.Proxies, p.FQDN)
	indexRemove(m.Index.ServiceToFQDNs, p.Services, p.FQDN)
	indexRemove(m.Index.SecretToFQDNs, p.SecretRefs, p.FQDN)
}

func vhostFQDN(v *VirtualHost) string         { return v.FQDN }
func clusterKey(c *Cluster) string            { return c.Name }
func laName(la *ClusterLoadAssignment) string { return la.Name }
func secretName(s *Secret) Key                { return s.Name }
func identity(s string) string                { return s }

// decrement lowers k's count and reports whether it reached zero.
func decrement[K comparable](refs map[K]int, k K) bool {
	refs[k]--
	if refs[k] > 0 {
		return false
	}
	delete(refs, k)
	return true
}

// upsert inserts v into s, sorted by key, replacing an element with the same key.
func upsert[T any, K any](s []T, v T, key func(T) K, compare func(K, K) int) []T {
	i, found := slices.BinarySearchFunc(s, key(v), func(e T, k K) int { return compare(key(e), k) })
	if found {
		s[i] = v
		return s
	}
	return slices.Insert(s, i, v)
}

// drop removes the element with key k from s, sorted by key.
func drop[T any, K any](s []T, k K, key func(T) K, compare func(K, K) int) []T {
	i, found := slices.BinarySearchFunc(s, k, func(e T, k K) int { return compare(key(e), k) })
	if !found {
		return s
	}
	s = slices.Delete(s, i, i+1)
	if len(s) == 0 {
		return nil
	}
	return s
}

func addNotes(s []string, refs map[string]int, notes []string) []string {
	for _, n := range notes {
		if refs[n]++; refs[n] == 1 {
			s = upsert(s, n, identity, strings.Compare)
		}
	}
	return s
}

func removeNotes(s []string, refs map[string]int, notes []string) []string {
	for _, n := range notes {
		if decrement(refs, n) {
			s = drop(s, n, identity, strings.Compare)
		}
	}
	return s
}

func indexAdd(idx map[Key][]string, keys []Key, fqdn string) {
	for _, k := range keys {
		idx[k] = upsert(idx[k], fqdn, identity, cmp.Compare[string])
	}
}

func indexRemove(idx map[Key][]string, keys []Key, fqdn string) {
	for _, k := range keys {
		if idx[k] = drop(idx[k], fqdn, identity, cmp.Compare[string]); idx[k] == nil {
			delete(idx, k)
		}
	}
}
