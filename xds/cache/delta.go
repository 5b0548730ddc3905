package cache

import (
	"context"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	if sub.IsWildcard() && t.wildcardLost(sub.ReturnedResources()) {
		// Only a new stream can say what it holds (initial_resource_versions).
		return nil, status.Errorf(codes.Aborted, "delta xDS %s: the client's state predates the deletions this server remembers (%s); reconnect",
			t.url, tombstoneTTL)
	}
	if r := t.deltaResponse(w, nil); r != nil {
		ch <- r
		return func() {}, nil
	}
	return register(c, t.delta, w), nil
}

// wildcardLost is lostRemovals for a wildcard request, which must reconnect instead.
func (t *typeState) wildcardLost(returned map[string]string) bool {
	tok, ok := t.deltaToken(returned)
	return t.lostRemovals(returned, tok, ok)
}

// deltaResponse is what the watch must be sent now, or nil. changed is nil when the watch
// is being created (the client's request), else the names an update changed: only those are
// looked at.
//
// What the client holds is read from the token of the previous response (delta_token.go);
// a client without one (a new stream that announced the versions it holds) is compared name
// by name. Either way the response leaves a token.
func (t *typeState) deltaResponse(w *deltaWatch, changed map[string]bool) cachev3.DeltaResponse {
	returned := w.sub.ReturnedResources()
	created := changed == nil
	tok, hasToken := t.deltaToken(returned)
	// A client whose removals cannot be told from tombstones (named subscriptions only: see
	// CreateDeltaWatch) is told that every name it subscribes to and that does not exist does
	// not exist, which is what a removal means to a delta client.
	lost := created && t.lostRemovals(returned, tok, hasToken)
	if created && hasToken && tok.seq == t.seq && w.req.GetResponseNonce() != "" &&
		len(w.req.GetResourceNamesSubscribe()) == 0 && len(w.req.GetResourceNamesUnsubscribe()) == 0 {
		// The usual ACK: no subscription change and nothing changed since the response.
		return nil
	}
	var send, removed []string
	consider := func(n string) {
		e, ok := t.resources[n]
		switch {
		case !subscribes(w.sub, n):
		case ok && !hasToken:
			if v, had := returned[n]; !had || v != e.version {
				send = append(send, n)
			}
		case ok:
			if !tok.holds(n) || e.seq > tok.seq {
				send = append(send, n)
			}
		case lost:
			removed = append(removed, n)
		case !hasToken:
			if v, had := returned[n]; had && v != "" {
				// "" marks a name unsubscribed from while wildcard: nothing to remove.
				removed = append(removed, n)
			}
		case tok.holds(n) && t.deleted.deletedAfter(n, tok.seq):
			removed = append(removed, n)
		}
	}
	t.deltaCandidates(w, changed, returned, tok, hasToken, consider)
	first := created && w.sub.IsWildcard() && w.req.GetResponseNonce() == ""
	if len(send) == 0 && len(removed) == 0 && !first {
		return nil
	}
	slices.Sort(send)
	list := make([]*discoveryv3.Resource, len(send))
	for i, n := range send {
		e := t.resources[n]
		list[i] = &discoveryv3.Resource{Name: n, Version: e.version, Resource: e.any}
	}
	slices.Sort(removed)
	return &deltaResponse{req: w.req, version: t.version, resources: list, removed: removed,
		returned: map[string]string{fullStateKey: t.newDeltaToken(w).String()}}
}

// deltaCandidates calls consider with every name that may have to be sent or removed.
func (t *typeState) deltaCandidates(w *deltaWatch, changed map[string]bool, returned map[string]string, tok deltaToken, hasToken bool, consider func(string)) {
	switch {
	case changed != nil:
		for n := range changed {
			consider(n)
		}
		return
	case w.sub.IsWildcard():
		for n := range t.resources {
			consider(n)
		}
	default:
		for n := range w.sub.SubscribedResources() {
			consider(n)
		}
	}
	if !hasToken {
		for n := range returned {
			if _, ok := t.resources[n]; !ok && n != fullStateKey {
				consider(n)
			}
		}
		return
	}
	if w.sub.IsWildcard() {
		for n, ts := range t.deleted.byName {
			if ts.seq > tok.seq {
				consider(n)
			}
		}
	}
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
