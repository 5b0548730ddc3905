package client

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
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
