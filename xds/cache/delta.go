package cache

import (
	"context"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// deltaWatch is an open delta (incremental) request.
type deltaWatch struct {
	req *cachev3.DeltaRequest
	sub cachev3.Subscription
	ch  chan cachev3.DeltaResponse
}

// CreateDeltaWatch answers a delta request at once with what the client lacks (the first
// request of a wildcard subscription is always answered, as Envoy waits for it), or else
// waits for a change it subscribes to.
func (c *Cache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.typeState(req.GetTypeUrl())
	w := &deltaWatch{req: req, sub: sub, ch: ch}
	if r := t.deltaResponse(w, nil); r != nil {
		ch <- r
		return func() {}, nil
	}
	return register(c, t.delta, w), nil
}

// deltaResponse is what the watch must be sent now, or nil. changed is nil when the watch
// is being created (the client's request), else the names an update changed: only those are
// looked at.
func (t *typeState) deltaResponse(w *deltaWatch, changed map[string]bool) cachev3.DeltaResponse {
	returned := w.sub.ReturnedResources()
	created := changed == nil
	if created && w.req.GetResponseNonce() != "" && len(w.req.GetResourceNamesSubscribe()) == 0 &&
		len(w.req.GetResourceNamesUnsubscribe()) == 0 && returned[fullStateKey] == t.version {
		// The usual ACK: no subscription change, and the last response was built from the
		// current contents (the type's version is their hash). Nothing to look at.
		return nil
	}
	var send, removed []string
	consider := func(n string) {
		e, ok := t.resources[n]
		v, had := returned[n]
		switch {
		case ok && w.wants(n) && (!had || v != e.version):
			send = append(send, n)
		case !ok && had && v != "" && n != fullStateKey:
			// "" marks a name unsubscribed from while wildcard: nothing to remove.
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
				consider(n)
			}
		}
	}
	first := created && w.sub.IsWildcard() && w.req.GetResponseNonce() == ""
	if len(send) == 0 && len(removed) == 0 && !first {
		return nil
	}
	next := maps.Clone(returned)
	if next == nil {
		next = make(map[string]string, len(send))
	}
	slices.Sort(send)
	list := make([]*discoveryv3.Resource, len(send))
	for i, n := range send {
		e := t.resources[n]
		list[i] = &discoveryv3.Resource{Name: n, Version: e.version, Resource: e.any}
		next[n] = e.version
	}
	slices.Sort(removed)
	for _, n := range removed {
		delete(next, n)
	}
	// The version the response is built at, for the ACK's fast path; never a resource name
	// (NUL is not valid in one), so it is never sent or removed.
	next[fullStateKey] = t.version
	return &deltaResponse{req: w.req, version: t.version, resources: list, removed: removed, returned: next}
}

// deltaResponse is a delta response whose resources are shared, encoded, with every other
// response carrying them.
type deltaResponse struct {
	req       *cachev3.DeltaRequest
	version   string
	resources []*discoveryv3.Resource
	removed   []string
	returned  map[string]string
}

var _ cachev3.DeltaResponse = (*deltaResponse)(nil)

// GetDeltaDiscoveryResponse returns a new message each time: the server sets its nonce.
func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	return &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: r.version, Resources: r.resources,
		RemovedResources: r.removed, TypeUrl: r.req.GetTypeUrl()}, nil
}

// GetDeltaRequest is the request answered.
func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }

// GetSystemVersion is the type's version.
func (r *deltaResponse) GetSystemVersion() (string, error) { return r.version, nil }

// GetResponseVersion is the type's version.
func (r *deltaResponse) GetResponseVersion() string { return r.version }

// GetNextVersionMap is what the client holds once it has this response.
func (r *deltaResponse) GetNextVersionMap() map[string]string { return r.returned }

// GetReturnedResources is what the client holds once it has this response.
func (r *deltaResponse) GetReturnedResources() map[string]string { return r.returned }

// GetContext is empty: responses carry no per-request values.
func (r *deltaResponse) GetContext() context.Context { return context.Background() }

// wants reports whether the watch subscribes to name.
func (w *deltaWatch) wants(name string) bool {
	if w.sub.IsWildcard() {
		return true
	}
	_, ok := w.sub.SubscribedResources()[name]
	return ok
}
