package cache_test

import (
	"fmt"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/go-logr/logr"

	xdscache "github.com/projectwarden/warden/xds/cache"
)

// BenchmarkUpdateOneRoute measures the cache's side of a route change pushed to a fleet:
// 1,000 state-of-the-world clients each subscribed to 2,001 route configurations (the
// 10,000-HTTPProxy world), one of which changes. It covers finding the watches, building
// their responses (shared encoded resources) and the maps the server keeps per client;
// not gRPC. Each iteration re-opens the answered watches, as the server does when the
// client ACKs.
func BenchmarkUpdateOneRoute(b *testing.B) {
	const clients, routes = 1000, 2001
	c := xdscache.New(logr.Discard())
	names := make([]string, routes)
	body := make([]byte, 500)
	upserts := make([]xdscache.Resource, routes)
	for i := range routes {
		names[i] = fmt.Sprintf("https/app-%d.example.com", i)
		upserts[i] = xdscache.Resource{Name: names[i], Version: "v0", Body: body}
	}
	if err := c.Update(xdscache.Change{TypeURL: resource.RouteType, Upsert: upserts}); err != nil {
		b.Fatal(err)
	}
	type client struct {
		sub stream.Subscription
		ch  chan cachev3.Response
	}
	fleet := make([]*client, clients)
	watch := func(cl *client, version string) {
		if _, err := c.CreateWatch(&cachev3.Request{TypeUrl: resource.RouteType, VersionInfo: version, ResourceNames: names}, &cl.sub, cl.ch); err != nil {
			b.Fatal(err)
		}
	}
	for i := range fleet {
		cl := &client{sub: stream.NewSotwSubscription(names, false), ch: make(chan cachev3.Response, 1)}
		watch(cl, "")
		r := <-cl.ch // the initial response: every route configuration
		cl.sub.SetReturnedResources(r.GetReturnedResources())
		watch(cl, r.GetResponseVersion())
		fleet[i] = cl
	}
	b.ResetTimer()
	for i := range b.N {
		changed := xdscache.Resource{Name: names[1000], Version: fmt.Sprintf("v%d", i+1), Body: body}
		if err := c.Update(xdscache.Change{TypeURL: resource.RouteType, Upsert: []xdscache.Resource{changed}}); err != nil {
			b.Fatal(err)
		}
		for _, cl := range fleet {
			r := <-cl.ch
			if d, _ := r.GetDiscoveryResponse(); len(d.GetResources()) != 1 {
				b.Fatalf("response carries %d route configurations, want the one changed", len(d.GetResources()))
			}
			cl.sub.SetReturnedResources(r.GetReturnedResources())
			watch(cl, r.GetResponseVersion())
		}
	}
}
