package client

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"unique"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Summary is what a light client (Options.Light) keeps of an accepted resource instead of
// the resource.
type Summary struct {
	// Version is the resource's version: its own (delta) or that of the response that
	// carried it (state of the world), as in State.ResourceVersions.
	Version string
	// Fingerprint is Fingerprint of the resource as received: it tells which resources
	// changed where versions do not (a state-of-the-world response gives all its resources
	// its own version).
	Fingerprint uint64
}

// Summaries is what a light client holds of its resources: a Summary of each, by type URL
// and name. The Summaries of a State never change: the client copies a type's table before
// changing it once a State sharing it has been handed out. The zero value holds nothing.
//
// Names and versions are interned process-wide (package unique), so that the many clients
// of a fan-out benchmark share one copy of each: a client holds about 30 bytes a resource.
type Summaries struct {
	byType [numTypes]map[unique.Handle[string]]held
}

// held is what a light client keeps of one resource.
type held struct {
	version     unique.Handle[string]
	fingerprint uint64
	// refs are the names a listener or cluster references (see encodeRefs); zero for the
	// other types and for resources that reference nothing.
	refs unique.Handle[string]
}

// Len is the number of resources of the type typeURL held.
func (s Summaries) Len(typeURL string) int {
	if i := typeIndex(typeURL); i >= 0 {
		return len(s.byType[i])
	}
	return 0
}

// Get returns the summary of the resource of the type typeURL named name, if it is held.
func (s Summaries) Get(typeURL, name string) (Summary, bool) {
	i := typeIndex(typeURL)
	if i < 0 {
		return Summary{}, false
	}
	h, ok := s.byType[i][unique.Make(name)]
	if !ok {
		return Summary{}, false
	}
	return Summary{Version: h.version.Value(), Fingerprint: h.fingerprint}, true
}

// Names returns the sorted names of the resources of the type typeURL held.
func (s Summaries) Names(typeURL string) []string {
	i := typeIndex(typeURL)
	if i < 0 {
		return nil
	}
	names := make([]string, 0, len(s.byType[i]))
	for h := range s.byType[i] {
		names = append(names, h.Value())
	}
	slices.Sort(names)
	return names
}

// RawResource is a resource of a response as received, for Options.NACKRaw.
type RawResource struct {
	// Name is the resource's name (the cluster name of a ClusterLoadAssignment).
	Name string
	// Version is the resource's version: its own (delta) or the response's (state of the
	// world).
	Version string
	// Resource is the resource, unwrapped from the discovery Resource that wraps resources
	// with a TTL. It must not be modified.
	Resource *anypb.Any
}

// fingerprintSeed makes fingerprints comparable within the process.
var fingerprintSeed = maphash.MakeSeed()

// Fingerprint is the fingerprint a light client keeps of a resource: a 64-bit hash of its
// serialized form (a.Value). It exists to tell, without keeping the resource, whether a
// resource received is the one held. Fingerprints compare within one process only (the
// hash is seeded per process), and two serializations of one message (map entries in
// another order) differ.
func Fingerprint(a *anypb.Any) uint64 {
	return maphash.Bytes(fingerprintSeed, a.GetValue())
}

// Indexes of the resource types in Summaries.
const (
	listenerIndex = iota
	routeIndex
	clusterIndex
	endpointIndex
	secretIndex
	numTypes
)

// typeIndex is the index of typeURL in Summaries, or -1 for a type the client does not
// handle.
func typeIndex(typeURL string) int {
	switch typeURL {
	case resource.ListenerType:
		return listenerIndex
	case resource.RouteType:
		return routeIndex
	case resource.ClusterType:
		return clusterIndex
	case resource.EndpointType:
		return endpointIndex
	case resource.SecretType:
		return secretIndex
	}
	return -1
}

// book is a light client's bookkeeping beyond its State.
//
// Concurrency: guarded by Client.mu.
type book struct {
	// shared marks the types whose table in State.Summaries is shared with a State handed
	// out: it is copied before its next change.
	shared [numTypes]bool
}

// handOut returns a copy of s, a light client's state, to hand out: small maps are copied,
// Summaries' tables are shared until their next change, and subscription lists are shared
// (they are replaced, never modified).
func (b *book) handOut(s State) State {
	c := s
	for i := range b.shared {
		b.shared[i] = true
	}
	c.Listeners = maps.Clone(s.Listeners)
	c.Routes = maps.Clone(s.Routes)
	c.Clusters = maps.Clone(s.Clusters)
	c.Endpoints = maps.Clone(s.Endpoints)
	c.Secrets = maps.Clone(s.Secrets)
	c.ResourceVersions = maps.Clone(s.ResourceVersions)
	c.Versions = maps.Clone(s.Versions)
	c.Subscriptions = maps.Clone(s.Subscriptions)
	c.Responses = maps.Clone(s.Responses)
	return c
}

// table returns the table of the type i in s.Summaries, copied first if a State handed out
// shares it.
func (b *book) table(s *State, i int) map[unique.Handle[string]]held {
	if b.shared[i] {
		s.Summaries.byType[i] = maps.Clone(s.Summaries.byType[i])
		b.shared[i] = false
	}
	return s.Summaries.byType[i]
}

// apply adds, replaces and removes the summaries of s as the accepted light response r
// says; see State.apply.
func (b *book) apply(s *State, r *response) {
	m := b.table(s, typeIndex(r.typeURL))
	if r.fullState {
		for name := range m {
			if _, ok := r.seen[name]; !ok {
				delete(m, name)
			}
		}
	}
	named := slices.Contains(namedTypes, r.typeURL)
	for _, it := range r.items {
		if named && !contains(s.Subscriptions[r.typeURL], it.name.Value()) {
			continue
		}
		m[it.name] = it.held
	}
	for _, name := range r.removed {
		delete(m, unique.Make(name))
	}
	s.Versions[r.typeURL] = r.version
}

// resubscribe is State.resubscribe for a light client: the references come from the
// listeners' and clusters' summaries. Only responses of those types change them.
func (b *book) resubscribe(s *State) []subscriptionChange {
	wanted := map[string]map[string]bool{}
	for _, t := range namedTypes {
		wanted[t] = map[string]bool{}
	}
	for _, i := range []int{listenerIndex, clusterIndex} {
		for _, h := range s.Summaries.byType[i] {
			decodeRefs(h.refs, func(typeURL, name string) { wanted[typeURL][name] = true })
		}
	}
	return s.changeSubscriptions(wanted, func(typeURL, name string) {
		delete(b.table(s, typeIndex(typeURL)), unique.Make(name))
	})
}

// Pending is the number of resources the client waits for: the names it subscribes to that
// it does not hold, and the wildcard types (clusters, listeners) of which no response has
// been accepted yet. It only counts, so it is cheap enough for a WaitFor condition of many
// clients. For a light client Pending is 0 exactly when CheckComplete accepts the state;
// for others CheckComplete also checks the clusters of routes.
func (s State) Pending() int {
	n := 0
	for _, t := range wildcardTypes {
		if _, ok := s.Versions[t]; !ok {
			n++
		}
	}
	for _, t := range namedTypes {
		held := len(s.Resources(t))
		if s.Light {
			held = s.Summaries.Len(t)
		}
		// A client holds only resources it subscribes to.
		n += max(0, len(s.Subscriptions[t])-held)
	}
	return n
}

// checkHeld is CheckComplete for the state of a light client: every name that its listeners
// and clusters reference (its subscriptions) is held. The clusters of routes are not
// checked: a light client does not decode route configurations.
func checkHeld(s State) error {
	if s.Pending() == 0 {
		return nil
	}
	var missing []string
	for _, t := range wildcardTypes {
		if _, ok := s.Versions[t]; !ok {
			missing = append(missing, fmt.Sprintf("%ss (no response yet)", kind(t)))
		}
	}
	for _, t := range namedTypes {
		for _, name := range s.Subscriptions[t] {
			if _, ok := s.Summaries.Get(t, name); !ok {
				missing = append(missing, fmt.Sprintf("%s %q (subscribed)", kind(t), name))
			}
		}
	}
	slices.Sort(missing)
	return &IncompleteError{Missing: missing}
}
