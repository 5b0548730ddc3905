package xds_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/xds"
	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
	"github.com/projectwarden/warden/xds/server"
	"github.com/projectwarden/warden/xds/translate"
)

// TestPublisherSendsLargeResourcesLast changes one child's route, which changes its vhost's
// https/<fqdn> and ingress_http, the larger: an Envoy-like client receives the vhost's own
// route configuration alone first, then ingress_http, in both protocol variants, and ends
// with both changed.
func TestPublisherSendsLargeResourcesLast(t *testing.T) {
	for _, mode := range []client.Mode{client.SotW, client.Delta} {
		t.Run(mode.String(), func(t *testing.T) {
			cache := xds.NewCache(logr.Discard())
			pub := xds.NewPublisher(cache, translate.Options{})
			in := publishInput()
			m := model.Build(in, model.Options{})
			fillSecrets(m)
			changed := translate.HTTPSRouteConfigName(fanoutFQDN(1))
			res, err := translate.Translate(m, translate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			small, large := len(res.Encoded[resource.RouteType][changed]), len(res.Encoded[resource.RouteType][translate.HTTPRouteConfigName])
			if large < small+50 { // the change adds a few bytes to each
				t.Fatalf("ingress_http has %d bytes, %s %d: the fixture no longer tells them apart", large, changed, small)
			}
			pub.SplitAbove = (small + large) / 2 // at scale, DefaultSplitAbove
			if err := pub.Publish(t.Context(), m); err != nil {
				t.Fatal(err)
			}

			srv := clienttest.StartServer(t, cache, nil, server.Options{Insecure: true})
			var mu sync.Mutex
			var responses [][]string // the route configurations of each route response
			c := clienttest.Dial(t, client.Options{Address: srv.Addr().String(), NodeID: clienttest.NodeID, Mode: mode,
				NACKRaw: func(typeURL string, raw []client.RawResource) error {
					if typeURL == resource.RouteType {
						var names []string
						for _, r := range raw {
							names = append(names, r.Name)
						}
						mu.Lock()
						responses = append(responses, names)
						mu.Unlock()
					}
					return nil
				}})
			clienttest.Run(t, c)
			if _, err := c.WaitFor(t.Context(), func(s client.State) bool { return client.CheckComplete(s) == nil }); err != nil {
				t.Fatal(err)
			}
			// A client that has not acknowledged its last response yet gets both changes in
			// one response when it does: wait for its route watch.
			eventually(t, "the client's route watch is open", func() bool { return cache.Watches(resource.RouteType) == 1 })
			mu.Lock()
			before := len(responses)
			mu.Unlock()

			in.Add(fanoutChild("team-1", "child", "/api-v2"))
			m.Rebuild(in, model.Options{}, fanoutFQDN(1))
			fillSecrets(m)
			if err := pub.Publish(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitFor(t.Context(), func(s client.State) bool {
				return s.HasRoute(changed, "/api-v2") && s.HasRoute(translate.HTTPRouteConfigName, "/api-v2")
			}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			got := slices.Clone(responses[before:])
			mu.Unlock()
			if diff := cmp.Diff([][]string{{changed}, {translate.HTTPRouteConfigName}}, got); diff != "" {
				t.Errorf("route responses after the change (-want +got):\n%s", diff)
			}
		})
	}
}

// eventually polls cond until it holds, for a few seconds at most.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
