package client

import (
	"slices"
	"strings"
	"testing"
	"unique"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestScanName(t *testing.T) {
	marshal := func(t *testing.T, m proto.Message) []byte {
		t.Helper()
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	route := func(t *testing.T) []byte {
		return marshal(t, &routev3.RouteConfiguration{
			Name:         "https/a.example.com",
			VirtualHosts: []*routev3.VirtualHost{{Name: "inner", Domains: []string{"a.example.com"}}},
		})
	}
	cases := map[string]struct {
		typeURL  string
		encoding func(t *testing.T) []byte
		want     string
		wantErr  bool
	}{
		"route_configuration": {typeURL: resource.RouteType, encoding: route, want: "https/a.example.com"},
		"assignment": {
			typeURL: resource.EndpointType,
			encoding: func(t *testing.T) []byte {
				return marshal(t, &endpointv3.ClusterLoadAssignment{ClusterName: "team/svc/80"})
			},
			want: "team/svc/80",
		},
		"no_name": {typeURL: resource.RouteType, encoding: func(*testing.T) []byte { return nil }, want: ""},
		"last_wins": {typeURL: resource.RouteType, encoding: func(t *testing.T) []byte {
			return protowire.AppendString(protowire.AppendTag(route(t), 1, protowire.BytesType), "later")
		}, want: "later"},
		"truncated": {typeURL: resource.RouteType, encoding: func(t *testing.T) []byte { b := route(t); return b[:len(b)-1] }, wantErr: true},
		"invalid_utf8": {
			typeURL: resource.RouteType,
			encoding: func(*testing.T) []byte {
				return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff})
			},
			wantErr: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := scanName(tc.encoding(t), nameFields[tc.typeURL])
			if (err != nil) != tc.wantErr {
				t.Fatalf("scanName error = %v, want error %t", err, tc.wantErr)
			}
			if string(got) != tc.want {
				t.Errorf("scanName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEncodeRefs(t *testing.T) {
	type ref struct{ TypeURL, Name string }
	cluster := &clusterv3.Cluster{
		Name:                 "c",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
			ServiceName: string(make([]byte, 300)), // a length of two varint bytes
		},
	}
	var got []ref
	decodeRefs(encodeRefs(cluster), func(typeURL, name string) { got = append(got, ref{typeURL, name}) })
	want := []ref{{resource.EndpointType, string(make([]byte, 300))}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("references (-want +got):\n%s", diff)
	}

	got = nil
	decodeRefs(encodeRefs(&clusterv3.Cluster{Name: "static"}), func(typeURL, name string) { got = append(got, ref{typeURL, name}) })
	if len(got) != 0 {
		t.Errorf("references of a static cluster: %v", got)
	}
}

func TestMerge(t *testing.T) {
	table := func(spec ...string) []entry {
		var out []entry
		for _, s := range spec {
			name, version, _ := strings.Cut(s, "@")
			out = append(out, entry{name: unique.Make(name), version: unique.Make(version)})
		}
		return out
	}
	cases := map[string]struct {
		old, upd []entry
		removed  []string
		want     []entry
	}{
		"empty":              {},
		"first":              {upd: table("a@1", "b@1"), want: table("a@1", "b@1")},
		"update_and_add":     {old: table("a@1", "c@1"), upd: table("b@2", "c@2", "d@2"), want: table("a@1", "b@2", "c@2", "d@2")},
		"remove":             {old: table("a@1", "b@1", "c@1"), removed: []string{"a", "c", "x"}, want: table("b@1")},
		"update_and_remove":  {old: table("a@1", "b@1"), upd: table("b@2"), removed: []string{"a"}, want: table("b@2")},
		"remove_the_updated": {old: table("a@1"), upd: table("a@2"), removed: []string{"a"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			old := slices.Clone(tc.old)
			got := merge(tc.old, tc.upd, names(tc.removed))
			if !slices.Equal(got, tc.want) || cap(got) != len(got) {
				t.Errorf("merge = %v (capacity %d), want %v", got, cap(got), tc.want)
			}
			if !slices.Equal(old, tc.old) {
				t.Errorf("merge modified its input: %v, was %v", tc.old, old)
			}
		})
	}
}

func TestResponseFinish_duplicate(t *testing.T) {
	r := newResponse(resource.RouteType, "v1", "n1", 3, decodeOptions{light: true})
	for _, name := range []string{"b", "a", "b"} {
		a, err := anypb.New(&routev3.RouteConfiguration{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		r.add(a, "", r.version)
	}
	r.finish()
	if r.err == nil || !strings.Contains(r.err.Error(), `duplicate route configuration "b"`) {
		t.Errorf("error = %v, want a duplicate route configuration", r.err)
	}
}
