package cache_test

import (
	"errors"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/projectwarden/warden/xds/client"
)

// domain is the first domain of the first virtual host of route configuration name.
func domain(s client.State, name string) string {
	rc, _ := s.Routes[name].(*routev3.RouteConfiguration)
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			return d
		}
	}
	return ""
}

// rejectDomain is a client NACK hook that rejects every route configuration with bad.
func rejectDomain(bad string) func(string, []proto.Message) error {
	return func(typeURL string, resources []proto.Message) error {
		if typeURL != resource.RouteType {
			return nil
		}
		for _, r := range resources {
			rc, _ := r.(*routev3.RouteConfiguration)
			for _, vh := range rc.GetVirtualHosts() {
				if slices.Contains(vh.GetDomains(), bad) {
					return errors.New("virtual host " + bad + " is rejected")
				}
			}
		}
		return nil
	}
}
