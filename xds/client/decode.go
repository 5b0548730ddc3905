package client

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unique"

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

	// light is set on the responses of a light client: resources are summarised in items,
	// and list and resources stay empty.
	light bool
	// items are the summaries of the resources of a light response, sorted by name once
	// the response is complete (finish).
	items []entry
	// versionHandle is version, interned (light responses).
	versionHandle unique.Handle[string]
	// received is when the response came off the stream, before its resources were
	// decoded (logged: decoding is the client's own cost, Envoy's as much as this one's).
	received time.Time
	// raw holds the resources as received, with their names and versions, when the client
	// has an Options.NACKRaw hook; nil otherwise.
	raw []RawResource
}

// decodeOptions say what a stream's responses keep of their resources.
type decodeOptions struct {
	// light: summaries instead of decoded messages (Options.Light).
	light bool
	// raw: the resources as received (Options.NACKRaw).
	raw bool
}

// newResponse returns an empty response of the given type, of n resources, keeping what o
// says.
func newResponse(typeURL, version, nonce string, n int, o decodeOptions) *response {
	r := &response{typeURL: typeURL, version: version, nonce: nonce, light: o.light, received: time.Now()}
	if o.raw {
		r.raw = make([]RawResource, 0, n)
	}
	if o.light {
		r.items = make([]entry, 0, n)
		r.versionHandle = unique.Make(version)
		return r
	}
	r.resources = map[string]proto.Message{}
	r.resourceVersions = map[string]string{}
	return r
}

// count is the number of resources of r (added or updated, for delta).
func (r *response) count() int {
	if r.light {
		return len(r.items)
	}
	return len(r.list)
}

// finish completes r once every resource has been added: the summaries of a light response
// are sorted by name, and a duplicate name rejects it.
func (r *response) finish() {
	if !r.light || r.err != nil {
		return
	}
	slices.SortFunc(r.items, compareNames)
	for i := 1; i < len(r.items); i++ {
		if r.items[i].name == r.items[i-1].name {
			r.err = fmt.Errorf("duplicate %s %q", kind(r.typeURL), r.items[i].name.Value())
			return
		}
	}
}

// release drops r's references to the resources as received once r has been handled, so
// that they can be collected while r is still referenced.
func (r *response) release() {
	clear(r.raw)
}

// add decodes a as a resource of r's type and adds it with the given version (summarises
// it, in a light response). name is the name the delta protocol gives it out of band, empty
// for state of the world. The first error is kept in r.err: Envoy rejects a response as a
// whole.
func (r *response) add(a *anypb.Any, name, version string) {
	if r.err != nil {
		return
	}
	var err error
	if r.light {
		err = r.addLight(a, name, version)
	} else {
		var m proto.Message
		m, a, err = decode(r.typeURL, a)
		if err == nil {
			err = r.insert(m, name, version)
		}
		if err == nil && r.raw != nil {
			r.raw = append(r.raw, RawResource{Name: resourceName(m), Version: version, Resource: a})
		}
	}
	if err != nil {
		r.err = err
	}
}

func (r *response) insert(m proto.Message, name, version string) error {
	got := resourceName(m)
	if err := checkName(r.typeURL, got, name); err != nil {
		return err
	}
	if _, dup := r.resources[got]; dup {
		return fmt.Errorf("duplicate %s %q", kind(r.typeURL), got)
	}
	r.list = append(r.list, m)
	r.resources[got] = m
	r.resourceVersions[got] = version
	return nil
}

// checkName checks got, the name of a resource of the type typeURL, against name, the name
// it was sent under (delta), if any.
func checkName(typeURL, got, name string) error {
	switch {
	case got == "":
		return fmt.Errorf("%s without a name", kind(typeURL))
	case name != "" && got != name:
		return fmt.Errorf("%s %q is sent under the name %q", kind(typeURL), got, name)
	}
	return nil
}

// decode unpacks a resource of the type typeURL, possibly wrapped in a discovery Resource
// (see unwrap). It also returns the resource's Any, unwrapped.
func decode(typeURL string, a *anypb.Any) (proto.Message, *anypb.Any, error) {
	a, err := unwrap(a)
	if err != nil {
		return nil, nil, err
	}
	m, err := unmarshal(typeURL, a)
	return m, a, err
}

// unwrap returns the resource of a discovery Resource (go-control-plane wraps resources
// that have a TTL in state-of-the-world responses), or a itself if it is not one.
func unwrap(a *anypb.Any) (*anypb.Any, error) {
	if !a.MessageIs(&discoveryv3.Resource{}) {
		return a, nil
	}
	var wrapper discoveryv3.Resource
	if err := a.UnmarshalTo(&wrapper); err != nil {
		return nil, fmt.Errorf("decoding a Resource wrapper: %w", err)
	}
	if wrapper.GetResource() == nil {
		return nil, fmt.Errorf("resource %q has no body (TTL heartbeats are not supported)", wrapper.GetName())
	}
	return wrapper.GetResource(), nil
}

// unmarshal unpacks a, an unwrapped resource of the type typeURL.
func unmarshal(typeURL string, a *anypb.Any) (proto.Message, error) {
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
