package cache_test

import (
	"slices"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"

	xdscache "github.com/projectwarden/warden/xds/cache"
	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
)

// quietFor is how long without a response counts as "the server sent nothing more": the
// server answers in well under a millisecond on loopback.
const quietFor = 300 * time.Millisecond

func TestCache_servesEverything(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := start(t, mode, client.Options{})
			s := h.client.Snapshot()
			got := map[string]int{"listeners": len(s.Listeners), "routes": len(s.Routes), "clusters": len(s.Clusters),
				"endpoints": len(s.Endpoints), "secrets": len(s.Secrets)}
			want := map[string]int{"listeners": 2, "routes": 2, "clusters": 1, "endpoints": 1, "secrets": 1}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("resources held (-want +got):\n%s", diff)
			}
			versions := h.cache.Versions()
			for _, typ := range xdscache.Order {
				if s.Versions[typ] != versions[typ] {
					t.Errorf("client holds %s version %q, cache serves %q", typ, s.Versions[typ], versions[typ])
				}
			}
		})
	}
}

// TestCache_changeSendsOnlyWhatChanged changes one route configuration: only it is sent
// again, in the state of the world as in delta (the protocol requires the full set only for
// listeners and clusters).
func TestCache_changeSendsOnlyWhatChanged(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := start(t, mode, client.Options{})
			before := len(h.recorder.quiet(quietFor))
			update(t, h.cache, changes(t, clienttest.Fixture{Domain: "www2.example.com"})...)
			waitFor(t, h.client, "the new domain", func(s client.State) bool { return domain(s, clienttest.RouteHTTP) == "www2.example.com" })
			after := h.recorder.quiet(quietFor)[before:]
			want := []sent{{typeURL: resource.RouteType, version: h.cache.Versions()[resource.RouteType], names: []string{clienttest.RouteHTTP}}}
			if diff := cmp.Diff(want, after, cmp.AllowUnexported(sent{})); diff != "" {
				t.Errorf("responses after one route configuration changed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCache_unchangedUpdateSendsNothing republishes identical resources.
func TestCache_unchangedUpdateSendsNothing(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := start(t, mode, client.Options{})
			before := len(h.recorder.quiet(quietFor))
			versions := h.cache.Versions()
			update(t, h.cache, changes(t, clienttest.Fixture{})...)
			if after := h.recorder.quiet(quietFor); len(after) != before {
				t.Errorf("identical update sent %d responses: %+v", len(after)-before, after[before:])
			}
			if diff := cmp.Diff(versions, h.cache.Versions()); diff != "" {
				t.Errorf("versions changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestCache_removal deletes the cluster and its assignment after moving the routes to a new
// cluster: the state of the world sends clusters without it; delta names it removed.
func TestCache_removal(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := start(t, mode, client.Options{})
			chs := changes(t, clienttest.Fixture{Cluster: "b"})
			for i := range chs {
				if chs[i].TypeURL == resource.ClusterType || chs[i].TypeURL == resource.EndpointType {
					chs[i].Delete = []string{"a"}
				}
			}
			update(t, h.cache, chs...)
			s := waitFor(t, h.client, "cluster b alone, complete", func(s client.State) bool {
				_, a := s.Clusters["a"]
				_, b := s.Clusters["b"]
				return b && !a && client.CheckComplete(s) == nil
			})
			if _, ok := s.Endpoints["a"]; ok {
				t.Error("the assignment of the removed cluster is still held")
			}
			if mode == client.Delta {
				all := h.recorder.quiet(quietFor)
				if !slices.ContainsFunc(all, func(x sent) bool { return x.typeURL == resource.ClusterType && slices.Equal(x.removed, []string{"a"}) }) {
					t.Errorf("no delta response removes cluster a: %+v", all)
				}
			}
		})
	}
}

// TestCache_ordersTypes changes every type at once: clusters reach the wire first (ADS
// order). The new cluster's assignment is requested by the client once it has the cluster,
// so it may follow the route configurations sent in the same update (as with
// go-control-plane's snapshot cache; Envoy warms the cluster meanwhile).
func TestCache_ordersTypes(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := start(t, mode, client.Options{})
			before := len(h.recorder.quiet(quietFor))
			chs := changes(t, clienttest.Fixture{Cluster: "c", Domain: "www3.example.com"})
			slices.Reverse(chs) // Update orders them
			update(t, h.cache, chs...)
			waitFor(t, h.client, "the new domain", func(s client.State) bool { return domain(s, clienttest.RouteHTTP) == "www3.example.com" })
			var order []string
			for _, x := range h.recorder.quiet(quietFor)[before:] {
				if !slices.Contains(order, x.typeURL) {
					order = append(order, x.typeURL)
				}
			}
			// The secret and the listeners did not change.
			slices.Sort(order[1:])
			want := []string{resource.ClusterType, resource.EndpointType, resource.RouteType}
			if diff := cmp.Diff(want, order); diff != "" {
				t.Errorf("types of the responses, in order of first appearance (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCache_NACKIsNotResent rejects an update every time: it is sent once, and the client
// keeps its configuration until the next change, which is sent.
func TestCache_NACKIsNotResent(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := start(t, mode, client.Options{NACK: rejectDomain("bad.example.com")})
			before := len(h.recorder.quiet(quietFor))
			update(t, h.cache, changes(t, clienttest.Fixture{Domain: "bad.example.com"})...)
			waitFor(t, h.client, "a NACK", func(s client.State) bool { return s.NACKs == 1 })
			after := h.recorder.quiet(quietFor)
			if n := len(after) - before; n != 1 {
				t.Errorf("%d responses after a rejected update, want 1 (no resend): %+v", n, after[before:])
			}
			if got := domain(h.client.Snapshot(), clienttest.RouteHTTP); got != "www.example.com" {
				t.Errorf("client holds domain %q, want the last good www.example.com", got)
			}
			update(t, h.cache, changes(t, clienttest.Fixture{Domain: "good.example.com"})...)
			waitFor(t, h.client, "the next change", func(s client.State) bool { return domain(s, clienttest.RouteHTTP) == "good.example.com" })
		})
	}
}

// TestCache_versionsAreContentHashes builds the same content in two caches through
// different updates: the versions are equal.
func TestCache_versionsAreContentHashes(t *testing.T) {
	a, b := xdscache.New(logr.Discard()), xdscache.New(logr.Discard())
	update(t, a, changes(t, clienttest.Fixture{})...)
	update(t, b, changes(t, clienttest.Fixture{Cluster: "z", Domain: "z.example.com"})...)
	update(t, b, changes(t, clienttest.Fixture{})...)
	chs := changes(t, clienttest.Fixture{})
	for _, ch := range chs {
		if ch.TypeURL == resource.ClusterType || ch.TypeURL == resource.EndpointType {
			update(t, b, xdscache.Change{TypeURL: ch.TypeURL, Delete: []string{"z"}})
		}
	}
	if diff := cmp.Diff(a.Versions(), b.Versions()); diff != "" {
		t.Errorf("versions of equal contents differ (-a +b):\n%s", diff)
	}
	update(t, b, changes(t, clienttest.Fixture{Domain: "other.example.com"})...)
	if a.Versions()[resource.RouteType] == b.Versions()[resource.RouteType] {
		t.Error("different route configurations have the same version")
	}
}

func TestCache_updateRejectsUpsertAndDeleteOfOneName(t *testing.T) {
	c := xdscache.New(logr.Discard())
	err := c.Update(xdscache.Change{TypeURL: resource.ClusterType, Upsert: []xdscache.Resource{{Name: "a", Version: "1"}}, Delete: []string{"a"}})
	if err == nil {
		t.Fatal("Update accepted a name both upserted and deleted")
	}
	if v := c.Versions()[resource.ClusterType]; v != "" {
		t.Errorf("a rejected update changed the cache: cluster version %q", v)
	}
}

// TestCache_reconnectHoldingCurrentVersion is an Envoy reconnecting (to this or another
// replica) with the listeners and clusters it already holds: its version, a content hash,
// says so, and they are not sent again. A client with another version is sent them.
func TestCache_reconnectHoldingCurrentVersion(t *testing.T) {
	c := xdscache.New(logr.Discard())
	update(t, c, changes(t, clienttest.Fixture{})...)
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		for _, tc := range []struct {
			name    string
			version string
			want    bool
		}{
			{"current version", c.Versions()[typ], false},
			{"other version", "an-older-hash", true},
			{"no version", "", true},
		} {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				ch := make(chan cachev3.Response, 1)
				sub := stream.NewSotwSubscription(nil, true)
				cancel, err := c.CreateWatch(&cachev3.Request{TypeUrl: typ, VersionInfo: tc.version}, &sub, ch)
				if err != nil {
					t.Fatal(err)
				}
				defer cancel()
				if got := len(ch) == 1; got != tc.want {
					t.Errorf("answered at once = %v, want %v", got, tc.want)
				}
			})
		}
	}
}

// TestCache_changeBetweenResponseAndACK changes a route configuration while the client has
// its response but has not ACKed it yet (no watch open): the ACK is answered with the
// change.
func TestCache_changeBetweenResponseAndACK(t *testing.T) {
	names := []string{clienttest.RouteHTTP, clienttest.RouteHTTPS}
	routes := func(f clienttest.Fixture) xdscache.Change { return changeOf(t, f, resource.RouteType) }
	t.Run("state-of-the-world", func(t *testing.T) {
		c := xdscache.New(logr.Discard())
		update(t, c, routes(clienttest.Fixture{}))
		sub := stream.NewSotwSubscription(names, false)
		ch := make(chan cachev3.Response, 1)
		if _, err := c.CreateWatch(&cachev3.Request{TypeUrl: resource.RouteType, ResourceNames: names}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		r := <-ch
		sub.SetReturnedResources(r.GetReturnedResources())
		update(t, c, routes(clienttest.Fixture{Domain: "www2.example.com"}))
		if _, err := c.CreateWatch(&cachev3.Request{TypeUrl: resource.RouteType, ResourceNames: names, VersionInfo: r.GetResponseVersion(), ResponseNonce: "1"}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		if len(ch) != 1 {
			t.Fatal("the ACK of an outdated response was not answered")
		}
		r = <-ch
		d, _ := r.GetDiscoveryResponse()
		if len(d.GetResources()) != 1 {
			t.Errorf("answer carries %d route configurations, want the one changed", len(d.GetResources()))
		}
		sub.SetReturnedResources(r.GetReturnedResources()) // as the server does when it sends
		// The ACK of that answer, at the current version, waits.
		if _, err := c.CreateWatch(&cachev3.Request{TypeUrl: resource.RouteType, ResourceNames: names, VersionInfo: d.GetVersionInfo(), ResponseNonce: "2"}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		if len(ch) != 0 {
			t.Error("an up-to-date ACK was answered")
		}
	})
	t.Run("delta", func(t *testing.T) {
		c := xdscache.New(logr.Discard())
		update(t, c, routes(clienttest.Fixture{}))
		sub := stream.NewDeltaSubscription(names, nil, nil, false)
		ch := make(chan cachev3.DeltaResponse, 1)
		if _, err := c.CreateDeltaWatch(&cachev3.DeltaRequest{TypeUrl: resource.RouteType, ResourceNamesSubscribe: names}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		r := <-ch
		sub.SetReturnedResources(r.GetReturnedResources())
		update(t, c, routes(clienttest.Fixture{Domain: "www2.example.com"}))
		if _, err := c.CreateDeltaWatch(&cachev3.DeltaRequest{TypeUrl: resource.RouteType, ResponseNonce: "1"}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		if len(ch) != 1 {
			t.Fatal("the ACK of an outdated response was not answered")
		}
		r = <-ch
		d, _ := r.GetDeltaDiscoveryResponse()
		if len(d.GetResources()) != 1 || len(d.GetRemovedResources()) != 0 {
			t.Errorf("answer carries %d resources and removes %v, want the one changed", len(d.GetResources()), d.GetRemovedResources())
		}
		sub.SetReturnedResources(r.GetReturnedResources())
		if _, err := c.CreateDeltaWatch(&cachev3.DeltaRequest{TypeUrl: resource.RouteType, ResponseNonce: "2"}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		if len(ch) != 0 {
			t.Error("an up-to-date ACK was answered")
		}
	})
}

// TestCache_newSubscriptionSendsOnlyTheNewName is an Envoy that gains a listener: it asks
// for one more route configuration and is sent that one alone.
func TestCache_newSubscriptionSendsOnlyTheNewName(t *testing.T) {
	c := xdscache.New(logr.Discard())
	update(t, c, changes(t, clienttest.Fixture{})...)
	one, two := []string{clienttest.RouteHTTP}, []string{clienttest.RouteHTTP, clienttest.RouteHTTPS}
	sub := stream.NewSotwSubscription(one, false)
	ch := make(chan cachev3.Response, 1)
	if _, err := c.CreateWatch(&cachev3.Request{TypeUrl: resource.RouteType, ResourceNames: one}, &sub, ch); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	sub.SetReturnedResources(r.GetReturnedResources())
	sub.SetResourceSubscription(two)
	if _, err := c.CreateWatch(&cachev3.Request{TypeUrl: resource.RouteType, ResourceNames: two, VersionInfo: r.GetResponseVersion(), ResponseNonce: "1"}, &sub, ch); err != nil {
		t.Fatal(err)
	}
	if len(ch) != 1 {
		t.Fatal("a request for one more route configuration was not answered")
	}
	d, _ := (<-ch).GetDiscoveryResponse()
	var names []string
	for _, a := range d.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, cachev3.GetResourceName(m))
	}
	if diff := cmp.Diff([]string{clienttest.RouteHTTPS}, names); diff != "" {
		t.Errorf("route configurations sent (-want +got):\n%s", diff)
	}
}

// TestCache_deltaClientBehind is a delta client that ACKs late: what changed or was deleted
// meanwhile is sent on its ACK, including the removal; a new stream announcing the versions
// it holds is sent only what differs.
func TestCache_deltaClientBehind(t *testing.T) {
	clusters := func(f clienttest.Fixture) xdscache.Change { return changeOf(t, f, resource.ClusterType) }
	c := xdscache.New(logr.Discard())
	update(t, c, clusters(clienttest.Fixture{}), clusters(clienttest.Fixture{Cluster: "b"}))
	sub := stream.NewDeltaSubscription(nil, nil, nil, true) // wildcard
	ch := make(chan cachev3.DeltaResponse, 1)
	watch := func(nonce string) *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		if _, err := c.CreateDeltaWatch(&cachev3.DeltaRequest{TypeUrl: resource.ClusterType, ResponseNonce: nonce}, &sub, ch); err != nil {
			t.Fatal(err)
		}
		if len(ch) == 0 {
			return nil
		}
		r := <-ch
		sub.SetReturnedResources(r.GetReturnedResources())
		d, _ := r.GetDeltaDiscoveryResponse()
		return d
	}
	names := func(d *discoveryv3.DeltaDiscoveryResponse) []string {
		var out []string
		for _, r := range d.GetResources() {
			out = append(out, r.GetName())
		}
		return out
	}
	if d := watch(""); !slices.Equal(names(d), []string{"a", "b"}) {
		t.Fatalf("first response carries %v, want a and b", names(d))
	}
	update(t, c, xdscache.Change{TypeURL: resource.ClusterType, Delete: []string{"a"}}, clusters(clienttest.Fixture{Cluster: "c"}))
	d := watch("1")
	if d == nil || !slices.Equal(names(d), []string{"c"}) || !slices.Equal(d.GetRemovedResources(), []string{"a"}) {
		t.Fatalf("the late ACK is answered with %v, removing %v; want c, removing a", names(d), d.GetRemovedResources())
	}
	if d := watch("2"); d != nil {
		t.Errorf("an up-to-date ACK was answered with %v", names(d))
	}

	// A new stream (another replica, a restart) that says it holds b at its version and an
	// older c.
	held := map[string]string{"c": "an-older-version"}
	for _, r := range clusters(clienttest.Fixture{Cluster: "b"}).Upsert {
		held[r.Name] = r.Version
	}
	sub = stream.NewDeltaSubscription(nil, nil, held, true)
	d = watch("")
	if d == nil || !slices.Equal(names(d), []string{"c"}) || len(d.GetRemovedResources()) != 0 {
		t.Errorf("a new stream holding b and an older c is sent %v, removing %v; want c alone", names(d), d.GetRemovedResources())
	}
}
