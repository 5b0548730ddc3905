package client

import (
	"maps"
	"slices"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// State is what the client holds at one moment: the resources it accepted, by type and name,
// and counters of the exchange. Snapshot and WaitFor return copies: a State is never modified
// after it is handed out, and neither are the messages it holds, which callers must not
// modify either.
//
// The state of a light client (Options.Light) holds no resources: the resource maps and
// ResourceVersions are empty, and Summaries holds the name, version and fingerprint of each
// accepted resource instead.
type State struct {
	// Listeners are the accepted listeners (*listenerv3.Listener) by name.
	Listeners map[string]proto.Message
	// Routes are the accepted route configurations (*routev3.RouteConfiguration) by name.
	Routes map[string]proto.Message
	// Clusters are the accepted clusters (*clusterv3.Cluster) by name.
	Clusters map[string]proto.Message
	// Endpoints are the accepted cluster load assignments (*endpointv3.ClusterLoadAssignment)
	// by cluster name (the EDS service name).
	Endpoints map[string]proto.Message
	// Secrets are the accepted secrets (*tlsv3.Secret) by name.
	Secrets map[string]proto.Message

	// Versions is, by type URL, the version of the last accepted response of that type: its
	// version_info (state of the world) or system_version_info (delta). A type is absent until
	// a response of it has been accepted.
	Versions map[string]string
	// ResourceVersions is, by type URL and resource name, the version of each accepted
	// resource: the per-resource version (delta) or the version of the response that carried
	// it (state of the world).
	ResourceVersions map[string]map[string]string
	// Subscriptions is, for the types subscribed to by name (route configurations, cluster
	// load assignments and secrets), the sorted names the client is subscribed to. Clusters
	// and listeners are always subscribed to as a wildcard and are not listed.
	Subscriptions map[string][]string

	// NACKs is the number of responses the client rejected.
	NACKs int
	// Responses is, by type URL, the number of responses received, accepted or not.
	Responses map[string]int

	// LastReceived is when the last accepted response came off the stream, and
	// LastDecoding how long the client then took to decode and check it before accepting
	// it: a latency measured to a state splits into the server's and the network's part and
	// this client's own (Go decodes a 500 KB route configuration several times slower than
	// Envoy's C++ does).
	LastReceived time.Time
	LastDecoding time.Duration

	// Light is set in the states of a light client (Options.Light), so that CheckComplete and
	// Pending read Summaries rather than the resource maps.
	Light bool
	// Summaries is what a light client holds of each accepted resource, in place of the
	// resource; empty for other clients.
	Summaries Summaries
}

// namedTypes are the types subscribed to by name, in the order their subscriptions are sent
// after a change: endpoints follow clusters, routes follow listeners, as in Envoy.
var namedTypes = []string{resource.EndpointType, resource.RouteType, resource.SecretType}

// wildcardTypes are the types subscribed to as a wildcard, in the order of the first
// requests: Envoy initialises clusters before listeners.
var wildcardTypes = []string{resource.ClusterType, resource.ListenerType}

// newState returns an empty State with every map allocated, of a light client if light.
func newState(light bool) State {
	return State{
		Light:            light,
		Listeners:        map[string]proto.Message{},
		Routes:           map[string]proto.Message{},
		Clusters:         map[string]proto.Message{},
		Endpoints:        map[string]proto.Message{},
		Secrets:          map[string]proto.Message{},
		Versions:         map[string]string{},
		ResourceVersions: map[string]map[string]string{},
		Subscriptions:    map[string][]string{},
		Responses:        map[string]int{},
	}
}

// Resources returns the resources of the given type URL, or nil for a type the client does
// not handle.
func (s State) Resources(typeURL string) map[string]proto.Message {
	switch typeURL {
	case resource.ListenerType:
		return s.Listeners
	case resource.RouteType:
		return s.Routes
	case resource.ClusterType:
		return s.Clusters
	case resource.EndpointType:
		return s.Endpoints
	case resource.SecretType:
		return s.Secrets
	}
	return nil
}

// clone copies s deeply enough that later changes to s do not show in the copy: maps are
// copied, the (immutable) messages are shared.
func (s State) clone() State {
	c := s.copyMaps()
	c.ResourceVersions = make(map[string]map[string]string, len(s.ResourceVersions))
	for t, v := range s.ResourceVersions {
		c.ResourceVersions[t] = maps.Clone(v)
	}
	c.Subscriptions = make(map[string][]string, len(s.Subscriptions))
	for t, names := range s.Subscriptions {
		c.Subscriptions[t] = slices.Clone(names)
	}
	return c
}

// copyMaps returns s with each of its maps copied, one level deep: the values of the
// per-type maps (versions by name, subscription lists, messages) are shared.
func (s State) copyMaps() State {
	c := s
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

// apply adds, replaces and removes resources of s as the accepted response r says. For the
// types subscribed to by name, resources that are not subscribed to are ignored, as Envoy
// ignores them.
func (s *State) apply(r *response) {
	m := s.Resources(r.typeURL)
	versions := s.ResourceVersions[r.typeURL]
	if versions == nil {
		versions = map[string]string{}
		s.ResourceVersions[r.typeURL] = versions
	}
	if r.fullState {
		for name := range m {
			if _, ok := r.resources[name]; !ok {
				delete(m, name)
				delete(versions, name)
			}
		}
	}
	named := slices.Contains(namedTypes, r.typeURL)
	for name, msg := range r.resources {
		if named && !contains(s.Subscriptions[r.typeURL], name) {
			continue
		}
		m[name] = msg
		versions[name] = r.resourceVersions[name]
	}
	for _, name := range r.removed {
		delete(m, name)
		delete(versions, name)
	}
	s.Versions[r.typeURL] = r.version
}

// subscriptionChange is a change of the names subscribed to for one type.
type subscriptionChange struct {
	typeURL string
	// names is the new set of names, sorted; added and removed are the differences from the
	// previous set.
	names, added, removed []string
}

// resubscribe computes the names the accepted resources of s reference, records them as s's
// subscriptions, forgets the resources no longer subscribed to and returns the changes, in
// the order of namedTypes.
func (s *State) resubscribe() []subscriptionChange {
	wanted := map[string]map[string]bool{}
	for _, ref := range references(*s, false) {
		if wanted[ref.typeURL] == nil {
			wanted[ref.typeURL] = map[string]bool{}
		}
		wanted[ref.typeURL][ref.name] = true
	}
	return s.changeSubscriptions(wanted, func(typeURL, name string) {
		delete(s.Resources(typeURL), name)
		delete(s.ResourceVersions[typeURL], name)
	})
}

// changeSubscriptions records wanted (by type URL, the names to subscribe to) as s's
// subscriptions, calls forget for every name no longer subscribed to and returns the
// changes, in the order of namedTypes.
func (s *State) changeSubscriptions(wanted map[string]map[string]bool, forget func(typeURL, name string)) []subscriptionChange {
	var changes []subscriptionChange
	for _, t := range namedTypes {
		names := slices.Sorted(maps.Keys(wanted[t]))
		old := s.Subscriptions[t]
		var added, removed []string
		for _, n := range names {
			if !contains(old, n) {
				added = append(added, n)
			}
		}
		for _, n := range old {
			if !wanted[t][n] {
				removed = append(removed, n)
				forget(t, n)
			}
		}
		if len(added) == 0 && len(removed) == 0 {
			continue
		}
		s.Subscriptions[t] = names
		changes = append(changes, subscriptionChange{typeURL: t, names: names, added: added, removed: removed})
	}
	return changes
}

// contains reports whether the sorted slice names holds name.
func contains(names []string, name string) bool {
	_, ok := slices.BinarySearch(names, name)
	return ok
}

// HasRoute reports whether s holds the route configuration routeConfig with a route that
// matches path: a prefix, path-separated prefix or exact path match equal to it. Tests and
// benchmarks wait on it for a change to arrive.
func (s State) HasRoute(routeConfig, path string) bool {
	rc, ok := s.Routes[routeConfig].(*routev3.RouteConfiguration)
	if !ok {
		return false
	}
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			m := r.GetMatch()
			if m.GetPrefix() == path || m.GetPathSeparatedPrefix() == path || m.GetPath() == path {
				return true
			}
		}
	}
	return false
}
