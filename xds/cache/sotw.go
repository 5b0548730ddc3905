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
	c.nextID++
	id := c.nextID
	t.sotw[id] = w
	return func() {
		c.mu.Lock()
		delete(t.sotw, id)
		c.mu.Unlock()
	}, nil
}

// fullStateKey is the one entry of what a full-state type's client was sent: the type's
// version, instead of every name and version (the server keeps a copy per client, and a
// change of one cluster would otherwise copy thousands of entries for every client).
const fullStateKey = "\x00version"

// sotwResponse is what the watch must be sent now, or nil. changed is nil when the watch is
// being created (the client's request), else the names an update changed: only those are
// looked at. A first request (no version) is always answered, so that Envoy can finish
// initialising even when nothing it asked for exists.
func (t *typeState) sotwResponse(w *sotwWatch, changed map[string]bool) cachev3.Response {
	returned := w.sub.ReturnedResources()
	created := changed == nil
	first := created && w.req.GetVersionInfo() == ""
	if t.fullState {
		if created && len(returned) == 0 && w.sub.IsWildcard() && w.req.GetVersionInfo() == t.version {
			// A client that reconnects (to this or another replica) holding the current
			// listeners or clusters: its version, a content hash, says it has them all.
			return nil
		}
		if !first && returned[fullStateKey] == t.version {
			return nil
		}
		return t.fullResponse(w)
	}

	var send, removed []string
	consider := func(n string) {
		e, ok := t.resources[n]
		v, had := returned[n]
		switch {
		case ok && w.wants(n) && (!had || v != e.version):
			send = append(send, n)
		case had && (!ok || !w.wants(n)):
			removed = append(removed, n)
		}
	}
	switch {
	case !created:
		for n := range changed {
			consider(n)
		}
	case w.sub.IsWildcard():
		for n := range t.resources {
			consider(n)
		}
	default:
		for n := range w.sub.SubscribedResources() {
			consider(n)
		}
	}
	if created {
		for n := range returned {
			if _, ok := t.resources[n]; !ok {
				removed = append(removed, n)
			}
		}
	}
	if len(send) == 0 && !first {
		// Removals alone: the state of the world cannot say "removed" for these types.
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

// wants reports whether the watch subscribes to name.
func (w *sotwWatch) wants(name string) bool {
	if w.sub.IsWildcard() {
		return true
	}
	_, ok := w.sub.SubscribedResources()[name]
	return ok
}

// fullResponse is every resource the watch subscribes to.
func (t *typeState) fullResponse(w *sotwWatch) *sotwResponse {
	var list []*anypb.Any
	if w.sub.IsWildcard() {
		list = t.allSorted()
	} else {
		for _, n := range slices.Sorted(maps.Keys(w.sub.SubscribedResources())) {
			if e, ok := t.resources[n]; ok {
				list = append(list, e.any)
			}
		}
	}
	return &sotwResponse{req: w.req, version: t.version, resources: list, returned: map[string]string{fullStateKey: t.version}}
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
