package client

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// response is a discovery response of either protocol, decoded.
type response struct {
	typeURL string
	// version is the response's version_info (state of the world) or system_version_info
	// (delta).
	version string
	nonce   string
	// list holds the resources in the order of the response; resources holds them by name,
	// and resourceVersions their versions.
	list             []proto.Message
	resources        map[string]proto.Message
	resourceVersions map[string]string
	// removed are the names of removed resources (delta).
	removed []string
	// fullState is set when the response holds every resource of its type, so that those
	// it lacks are removed (state of the world: listeners and clusters).
	fullState bool
	// err is why the response cannot be accepted, if it cannot.
	err error
	// unsolicited is set on a response of a type never subscribed to. Envoy ignores such a
	// response; answering it would subscribe to the type (a first request naming no resource
	// is a wildcard subscription).
	unsolicited bool
}

// newResponse returns an empty response of the given type.
func newResponse(typeURL, version, nonce string) *response {
	return &response{
		typeURL:          typeURL,
		version:          version,
		nonce:            nonce,
		resources:        map[string]proto.Message{},
		resourceVersions: map[string]string{},
	}
}

// add decodes a as a resource of r's type and adds it with the given version. name is the
// name the delta protocol gives it out of band, empty for state of the world. The first
// error is kept in r.err: Envoy rejects a response as a whole.
func (r *response) add(a *anypb.Any, name, version string) {
	if r.err != nil {
		return
	}
	m, err := decode(r.typeURL, a)
	if err == nil {
		err = r.insert(m, name, version)
	}
	if err != nil {
		r.err = err
	}
}

func (r *response) insert(m proto.Message, name, version string) error {
	got := resourceName(m)
	switch {
	case got == "":
		return fmt.Errorf("%s without a name", kind(r.typeURL))
	case name != "" && got != name:
		return fmt.Errorf("%s %q is sent under the name %q", kind(r.typeURL), got, name)
	}
	if _, dup := r.resources[got]; dup {
		return fmt.Errorf("duplicate %s %q", kind(r.typeURL), got)
	}
	r.list = append(r.list, m)
	r.resources[got] = m
	r.resourceVersions[got] = version
	return nil
}

// decode unpacks a resource of the type typeURL, possibly wrapped in a discovery Resource
// (go-control-plane wraps resources that have a TTL in state-of-the-world responses).
func decode(typeURL string, a *anypb.Any) (proto.Message, error) {
	if a.MessageIs(&discoveryv3.Resource{}) {
		var wrapper discoveryv3.Resource
		if err := a.UnmarshalTo(&wrapper); err != nil {
			return nil, fmt.Errorf("decoding a Resource wrapper: %w", err)
		}
		if wrapper.GetResource() == nil {
			return nil, fmt.Errorf("resource %q has no body (TTL heartbeats are not supported)", wrapper.GetName())
		}
		a = wrapper.GetResource()
	}
	m := newMessage(typeURL)
	if m == nil {
		return nil, fmt.Errorf("unexpected resource type %s", typeURL)
	}
	if a.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), typeURL)
	}
	if err := a.UnmarshalTo(m); err != nil {
		return nil, fmt.Errorf("decoding a %s: %w", kind(typeURL), err)
	}
	return m, nil
}

// newMessage returns an empty message of the type typeURL, or nil for a type the client does
// not handle.
func newMessage(typeURL string) proto.Message {
	switch typeURL {
	case resource.ListenerType:
		return &listenerv3.Listener{}
	case resource.RouteType:
		return &routev3.RouteConfiguration{}
	case resource.ClusterType:
		return &clusterv3.Cluster{}
	case resource.EndpointType:
		return &endpointv3.ClusterLoadAssignment{}
	case resource.SecretType:
		return &tlsv3.Secret{}
	}
	return nil
}

// resourceName is the name of m as xDS knows it: the cluster name of an assignment, the name
// of anything else.
func resourceName(m proto.Message) string {
	switch m := m.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return m.GetClusterName()
	case interface{ GetName() string }:
		return m.GetName()
	}
	return ""
}

// errNoResponseType is a response without a type URL, which ADS requires.
var errNoResponseType = errors.New("response without a type URL")
