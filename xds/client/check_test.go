package client_test

import (
	"errors"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
)

func TestXDSCheckComplete(t *testing.T) {
	upstreamTLS := func(t *testing.T, sds *corev3.ConfigSource) *corev3.TransportSocket {
		a, err := anypb.New(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "upstream-ca", SdsConfig: sds},
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
	}
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	file := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{Path: "/sds/ca.json"}}}

	cases := map[string]struct {
		change      func(t *testing.T, s *client.State)
		wantMissing []string
	}{
		"complete": {
			change: func(*testing.T, *client.State) {},
		},
		"nothing_received": {
			change: func(_ *testing.T, s *client.State) { *s = client.State{} },
			wantMissing: []string{
				"clusters (no response yet)",
				"listeners (no response yet)",
			},
		},
		"route_configuration_secret_and_assignment_missing": {
			change: func(_ *testing.T, s *client.State) {
				delete(s.Routes, clienttest.RouteHTTPS)
				delete(s.Secrets, clienttest.Secret)
				delete(s.Endpoints, "a")
			},
			wantMissing: []string{
				`cluster load assignment "a" (cluster "a")`,
				`route configuration "https/secure.example.com" (listener "ingress_https" filter chain 0)`,
				`secret "s" (listener "ingress_https" filter chain 0)`,
			},
		},
		"cluster_of_routes_missing": {
			change: func(_ *testing.T, s *client.State) {
				delete(s.Clusters, "a")
			},
			wantMissing: []string{
				`cluster "a" (route configuration "https/secure.example.com" virtual host "secure.example.com" route 0)`,
				`cluster "a" (route configuration "ingress_http" virtual host "www.example.com" route 0)`,
			},
		},
		"upstream_secret_over_ads_missing": {
			change: func(t *testing.T, s *client.State) {
				c := proto.Clone(s.Clusters["a"]).(*clusterv3.Cluster)
				c.TransportSocket = upstreamTLS(t, ads)
				s.Clusters["a"] = c
			},
			wantMissing: []string{`secret "upstream-ca" (cluster "a")`},
		},
		"file_based_secret_is_not_expected": {
			change: func(t *testing.T, s *client.State) {
				c := proto.Clone(s.Clusters["a"]).(*clusterv3.Cluster)
				c.TransportSocket = upstreamTLS(t, file)
				s.Clusters["a"] = c
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := clienttest.State(t, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}))
			tc.change(t, &s)
			err := client.CheckComplete(s)
			var got []string
			if err != nil {
				var incomplete *client.IncompleteError
				if !errors.As(err, &incomplete) {
					t.Fatalf("CheckComplete error %v is not an *IncompleteError", err)
				}
				got = incomplete.Missing
			}
			if diff := cmp.Diff(tc.wantMissing, got); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
		})
	}
}
