package xds_test

import (
	"fmt"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy/fixture"
	"github.com/projectwarden/warden/xds"
	xdscache "github.com/projectwarden/warden/xds/cache"
	"github.com/projectwarden/warden/xds/translate"
)

// publishInput is a small world: three TLS roots, each including one child with a route to
// its own Service.
func publishInput() model.Input {
	in := model.NewInput()
	for r := range 3 {
		ns := fmt.Sprintf("team-%d", r)
		root := fixture.Proxy(ns, "root").FQDN(fanoutFQDN(r)).TLS("cert").Include(ns, "child", fixture.Prefix("/"))
		in.Secrets.Insert(model.Key{Namespace: ns, Name: "cert"})
		in.Add(root.Obj())
		in.Add(fanoutChild(ns, "child", "/api"))
		in.Add(fixture.Service(ns, "child", 80))
	}
	return in
}

// cached is what the cache serves, decoded, by type and name.
func cached(t *testing.T, c *xdscache.Cache) map[string]map[string]types.Resource {
	t.Helper()
	out := map[string]map[string]types.Resource{}
	for _, typ := range xdscache.Order {
		r, err := c.Resources(typ)
		if err != nil {
			t.Fatal(err)
		}
		out[typ] = r
	}
	return out
}

// translated is Translate's output, by type and name.
func translated(t *testing.T, m *model.Model) map[string]map[string]types.Resource {
	t.Helper()
	res, err := translate.Translate(m, translate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := res.Decode()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]types.Resource{}
	for typ, list := range msgs.ByType() {
		out[typ] = map[string]types.Resource{}
		for _, r := range list {
			out[typ][cachev3.GetResourceName(r)] = r
		}
	}
	return out
}

// TestPublisher publishes successive models: the cache serves exactly their translation,
// and only the types whose resources changed get a new version.
func TestPublisher(t *testing.T) {
	ctx := t.Context()
	cache := xds.NewCache(logr.Discard())
	pub := xds.NewPublisher(cache, translate.Options{})
	var published []map[string]string
	pub.OnPublish = func(v map[string]string) { published = append(published, v) }

	in := publishInput()
	m := model.Build(in, model.Options{})
	fillSecrets(m)
	if err := pub.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(translated(t, m), cached(t, cache), protocmp.Transform()); diff != "" {
		t.Fatalf("cache after the first publication (-translated +cached):\n%s", diff)
	}
	first := cache.Versions()

	t.Run("unchanged_model_publishes_nothing", func(t *testing.T) {
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		if len(published) != 1 {
			t.Errorf("OnPublish called %d times, want once (the first publication)", len(published))
		}
		if diff := cmp.Diff(first, cache.Versions()); diff != "" {
			t.Errorf("versions changed (-before +after):\n%s", diff)
		}
	})

	t.Run("route_change_changes_only_route_configurations", func(t *testing.T) {
		in.Add(fanoutChild("team-1", "child", "/api-v2"))
		m.Rebuild(in, model.Options{}, fanoutFQDN(1))
		fillSecrets(m)
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(translated(t, m), cached(t, cache), protocmp.Transform()); diff != "" {
			t.Errorf("cache (-translated +cached):\n%s", diff)
		}
		after := cache.Versions()
		for _, typ := range xdscache.Order {
			if changed := after[typ] != first[typ]; changed != (typ == resource.RouteType) {
				t.Errorf("%s version changed = %v, want %v", typ, changed, typ == resource.RouteType)
			}
		}
	})

	t.Run("removed_vhost_is_removed", func(t *testing.T) {
		delete(in.Proxies, model.Key{Namespace: "team-2", Name: "root"})
		in.Roots = in.Roots[:0]
		for _, p := range in.Proxies {
			if p.Spec.VirtualHost != nil {
				in.Roots = append(in.Roots, p)
			}
		}
		m.Rebuild(in, model.Options{}, fanoutFQDN(2))
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(translated(t, m), cached(t, cache), protocmp.Transform()); diff != "" {
			t.Errorf("cache (-translated +cached):\n%s", diff)
		}
	})

	t.Run("invalid_model_publishes_nothing", func(t *testing.T) {
		before, want := cache.Versions(), cached(t, cache)
		// A new item, as the model makes them (items are never changed in place).
		m.Endpoints[0] = &model.ClusterLoadAssignment{Name: m.Endpoints[0].Name,
			Endpoints: []model.Endpoint{{Address: "10.0.0.1", Port: 70000, Ready: true}}}
		if err := pub.Publish(ctx, m); err == nil {
			t.Fatal("Publish of a model with an out-of-range port succeeded")
		}
		if diff := cmp.Diff(before, cache.Versions()); diff != "" {
			t.Errorf("versions changed (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(want, cached(t, cache), protocmp.Transform()); diff != "" {
			t.Errorf("cache changed (-before +after):\n%s", diff)
		}
	})
}
