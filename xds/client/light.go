package client

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
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
// and name. The Summaries of a State never change: each response gives the client new
// tables. The zero value holds nothing.
//
// A type's table is a slice sorted by name, 32 bytes a resource (a Go map takes 80); names
// and versions are interned process-wide (package unique), so that the many clients of a
// fan-out benchmark share one copy of each.
type Summaries struct {
	byType [numTypes][]entry
}

// entry is what a light client keeps of one resource.
type entry struct {
	name        unique.Handle[string]
	version     unique.Handle[string]
	fingerprint uint64
	// refs are the names a listener or cluster references (see encodeRefs); zero for the
	// other types and for resources that reference nothing.
	refs unique.Handle[string]
}

// compareNames orders entries by name.
func compareNames(a, b entry) int { return strings.Compare(a.name.Value(), b.name.Value()) }

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
	t := s.byType[i]
	j, ok := slices.BinarySearchFunc(t, name, func(e entry, name string) int { return strings.Compare(e.name.Value(), name) })
	if !ok {
		return Summary{}, false
	}
	return Summary{Version: t[j].version.Value(), Fingerprint: t[j].fingerprint}, true
}

// Names returns the sorted names of the resources of the type typeURL held.
func (s Summaries) Names(typeURL string) []string {
	i := typeIndex(typeURL)
	if i < 0 {
		return nil
	}
	names := make([]string, len(s.byType[i]))
	for j, e := range s.byType[i] {
		names[j] = e.name.Value()
	}
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

// handOutLight returns a copy of s, a light client's state, to hand out: the small maps
// are copied, and the large tables shared: Summaries' tables and the subscription lists are
// replaced, never modified.
func handOutLight(s State) State { return s.copyMaps() }

// applyLight replaces the table of r's type in s.Summaries as the accepted light response
// r says; see State.apply. r.items are sorted by name.
func (s *State) applyLight(r *response) {
	i := typeIndex(r.typeURL)
	upd := r.items
	if slices.Contains(namedTypes, r.typeURL) {
		subscribed := s.Subscriptions[r.typeURL]
		upd = slices.DeleteFunc(upd, func(e entry) bool { return !contains(subscribed, e.name.Value()) })
	}
	if r.fullState {
		s.Summaries.byType[i] = slices.Clip(upd)
	} else {
		s.Summaries.byType[i] = merge(s.Summaries.byType[i], upd, names(r.removed))
	}
	s.Versions[r.typeURL] = r.version
}

// names is a set of names.
func names(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	set := make(map[string]bool, len(list))
	for _, n := range list {
		set[n] = true
	}
	return set
}

// merge returns a new table: the entries of old, replaced or completed by those of upd
// (both sorted by name), without those named in removed.
func merge(old, upd []entry, removed map[string]bool) []entry {
	// order compares old[i] and upd[j], either of which may be past the end.
	order := func(i, j int) int {
		switch {
		case i == len(old):
			return 1
		case j == len(upd):
			return -1
		}
		return compareNames(old[i], upd[j])
	}
	walk := func(fn func(entry)) {
		i, j := 0, 0
		for i < len(old) || j < len(upd) {
			var e entry
			switch c := order(i, j); {
			case c < 0:
				e, i = old[i], i+1
			case c > 0:
				e, j = upd[j], j+1
			default:
				e, i, j = upd[j], i+1, j+1
			}
			if !removed[e.name.Value()] {
				fn(e)
			}
		}
	}
	n := 0
	walk(func(entry) { n++ })
	out := make([]entry, 0, n)
	walk(func(e entry) { out = append(out, e) })
	return out
}

// resubscribeLight is State.resubscribe for a light client: the references come from the
// summaries of listeners and clusters. Only responses of those types change them.
func (s *State) resubscribeLight() []subscriptionChange {
	wanted := map[string]map[string]bool{}
	for _, t := range namedTypes {
		wanted[t] = map[string]bool{}
	}
	for _, i := range []int{listenerIndex, clusterIndex} {
		for _, e := range s.Summaries.byType[i] {
			decodeRefs(e.refs, func(typeURL, name string) { wanted[typeURL][name] = true })
		}
	}
	forgotten := map[string]map[string]bool{}
	changes := s.changeSubscriptions(wanted, func(typeURL, name string) {
		if forgotten[typeURL] == nil {
			forgotten[typeURL] = map[string]bool{}
		}
		forgotten[typeURL][name] = true
	})
	for typeURL, gone := range forgotten {
		i := typeIndex(typeURL)
		s.Summaries.byType[i] = merge(s.Summaries.byType[i], nil, gone)
	}
	return changes
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
