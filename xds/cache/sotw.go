package cache

import (
	"context"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// sotwWatch is an open state-of-the-world request.
type sotwWatch struct {
	req *cachev3.Request
	sub cachev3.Subscription
	ch  chan cachev3.Response
	// key identifies the names subscribed to, once keyed (sotw_named.go).
	key   setKey
	keyed bool
}

// CreateWatch answers a state-of-the-world request at once when the client lacks something
// (or sent its first request of the type), or else waits for a change it subscribes to.
func (c *Cache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.typeState(req.GetTypeUrl())
	w := &sotwWatch{req: req, sub: sub, ch: ch}
	if r := t.sotwResponse(w, nil); r != nil {
		ch <- r
		return func() {}, nil
	}
	return register(c, t.sotw, w), nil
}

// fullStateKey is the key, in the map of what a client was sent (the server keeps it per
// client and type, and hands it back with the client's next request), of what the cache
// records instead of every name and version: for a wildcard state-of-the-world client of
// listeners or clusters, the type's version; for a delta client, its token
// (delta_token.go). NUL is never in a resource name. A state-of-the-world client that
// subscribes by name keeps its token under one of those names instead, because the server
// drops every other entry of such a client's map (sotw_named.go).
const fullStateKey = "\x00version"

// sotwResponse is what the watch must be sent now, or nil. changed is nil when the watch is
// being created (the client's request), else the names an update changed: only those are
// looked at. A first request (no version) is always answered, so that Envoy can finish
// initialising even when nothing it asked for exists.
func (t *typeState) sotwResponse(w *sotwWatch, changed map[string]bool) cachev3.Response {
	returned := w.sub.ReturnedResources()
	created := changed == nil
	first := created && w.req.GetVersionInfo() == ""
	wildcard := w.sub.IsWildcard()
	switch {
	case t.fullState && wildcard:
		if created && len(returned) == 0 && w.req.GetVersionInfo() == t.version {
			// A client that reconnects (to this or another replica) holding the current
			// listeners or clusters: its version, a content hash, says it has them all.
			return nil
		}
		if !first && returned[fullStateKey] == t.version {
			return nil
		}
		return t.fullResponse(w)
	case !t.fullState && !wildcard:
		return t.namedResponse(w, changed)
	}
	send, removed := t.sotwDiff(w, changed)
	switch {
	case t.fullState && (len(send) > 0 || len(removed) > 0 || first):
		return t.fullResponse(w)
	case t.fullState, len(send) == 0 && !first:
		// Nothing new; a removal alone cannot be said in the state of the world for
		// route configurations, assignments and secrets.
		return nil
	}
	next := maps.Clone(returned)
	if next == nil {
		next = make(map[string]string, len(send))
	}
	for _, n := range removed {
		delete(next, n)
	}
	slices.Sort(send)
	list := make([]*anypb.Any, len(send))
	for i, n := range send {
		e := t.resources[n]
		list[i] = e.any
		next[n] = e.version
	}
	return &sotwResponse{req: w.req, version: t.version, resources: list, returned: next}
}

// sotwDiff returns the names the watch subscribes to that it lacks or holds at another
// version, and the names it holds that are gone or no longer subscribed to. Only the changed
// names are looked at, or, when changed is nil, every name.
func (t *typeState) sotwDiff(w *sotwWatch, changed map[string]bool) (send, removed []string) {
	returned := w.sub.ReturnedResources()
	consider := func(n string) {
		e, ok := t.resources[n]
		v, had := returned[n]
		switch {
		case ok && subscribes(w.sub, n) && (!had || v != e.version):
			send = append(send, n)
		case had && (!ok || !subscribes(w.sub, n)):
			removed = append(removed, n)
		}
	}
	switch {
	case changed != nil:
		for n := range changed {
			consider(n)
		}
		return send, removed
	case w.sub.IsWildcard():
		for n := range t.resources {
			consider(n)
		}
	default:
		for n := range w.sub.SubscribedResources() {
			consider(n)
		}
	}
	for n := range returned {
		if _, ok := t.resources[n]; !ok && n != fullStateKey {
			removed = append(removed, n)
		}
	}
	return send, removed
}

// fullResponse is every resource the watch subscribes to. A wildcard client's returned map
// holds only the version (fullStateKey); a client subscribing by name gets its names.
func (t *typeState) fullResponse(w *sotwWatch) *sotwResponse {
	if w.sub.IsWildcard() {
		return &sotwResponse{req: w.req, version: t.version, resources: t.allSorted(), returned: map[string]string{fullStateKey: t.version}}
	}
	var list []*anypb.Any
	next := map[string]string{}
	for _, n := range slices.Sorted(maps.Keys(w.sub.SubscribedResources())) {
		if e, ok := t.resources[n]; ok {
			list = append(list, e.any)
			next[n] = e.version
		}
	}
	return &sotwResponse{req: w.req, version: t.version, resources: list, returned: next}
}

// subscribes reports whether sub covers name: a wildcard, or a name subscribed to.
func subscribes(sub cachev3.Subscription, name string) bool {
	if sub.IsWildcard() {
		return true
	}
	_, ok := sub.SubscribedResources()[name]
	return ok
}

// sotwResponse is a state-of-the-world response whose resources are shared, encoded, with
// every other response carrying them.
type sotwResponse struct {
	req       *cachev3.Request
	version   string
	resources []*anypb.Any
	returned  map[string]string
}

var _ cachev3.Response = (*sotwResponse)(nil)

// GetDiscoveryResponse returns a new message each time: the server sets its nonce.
func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	return &discoveryv3.DiscoveryResponse{VersionInfo: r.version, Resources: r.resources, TypeUrl: r.req.GetTypeUrl()}, nil
}

// GetRequest is the request answered.
func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }

// GetVersion is the type's version.
func (r *sotwResponse) GetVersion() (string, error) { return r.version, nil }

// GetResponseVersion is the type's version.
func (r *sotwResponse) GetResponseVersion() string { return r.version }

// GetReturnedResources is what the client holds once it has this response.
func (r *sotwResponse) GetReturnedResources() map[string]string { return r.returned }

// GetContext is empty: responses carry no per-request values.
func (r *sotwResponse) GetContext() context.Context { return context.Background() }
