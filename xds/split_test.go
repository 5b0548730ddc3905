package xds

import (
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"

	xdscache "github.com/projectwarden/warden/xds/cache"
)

func TestSplit(t *testing.T) {
	small := func(name string) xdscache.Resource { return xdscache.Resource{Name: name, Body: make([]byte, 10)} }
	large := func(name string) xdscache.Resource { return xdscache.Resource{Name: name, Body: make([]byte, 100)} }
	routes := func(del []string, up ...xdscache.Resource) xdscache.Change {
		return xdscache.Change{TypeURL: resource.RouteType, Upsert: up, Delete: del}
	}
	clusters := func(del []string, up ...xdscache.Resource) xdscache.Change {
		return xdscache.Change{TypeURL: resource.ClusterType, Upsert: up, Delete: del}
	}
	for name, tc := range map[string]struct {
		changes []xdscache.Change
		limit   int
		want    [][]xdscache.Change
	}{
		"small_changes_are_one_update": {
			changes: []xdscache.Change{clusters([]string{"old"}, small("c")), routes(nil, small("https/a"))},
			limit:   50,
			want:    [][]xdscache.Change{{clusters([]string{"old"}, small("c")), routes(nil, small("https/a"))}},
		},
		"route_change_sends_its_vhost_before_ingress_http": {
			changes: []xdscache.Change{routes(nil, small("https/a"), large("ingress_http"))},
			limit:   50,
			want:    [][]xdscache.Change{{routes(nil, small("https/a"))}, {routes(nil, large("ingress_http"))}},
		},
		"deletions_follow_with_the_large_resources": {
			changes: []xdscache.Change{clusters([]string{"gone"}, small("new")), routes([]string{"https/gone"}, large("ingress_http"))},
			limit:   50,
			want: [][]xdscache.Change{
				{clusters(nil, small("new"))},
				{clusters([]string{"gone"}), routes([]string{"https/gone"}, large("ingress_http"))},
			},
		},
		"only_large_changes_are_one_update": {
			changes: []xdscache.Change{routes([]string{"https/gone"}, large("ingress_http"))},
			limit:   50,
			want:    [][]xdscache.Change{{routes([]string{"https/gone"}, large("ingress_http"))}},
		},
		"negative_limit_never_splits": {
			changes: []xdscache.Change{routes(nil, small("https/a"), large("ingress_http"))},
			limit:   -1,
			want:    [][]xdscache.Change{{routes(nil, small("https/a"), large("ingress_http"))}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, split(tc.changes, tc.limit)); diff != "" {
				t.Errorf("cache updates (-want +got):\n%s", diff)
			}
		})
	}
}
