package client

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sotwStream speaks state-of-the-world xDS on a StreamAggregatedResources stream.
//
// Concurrency: used by Run's goroutine only.
type sotwStream struct {
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	// node is sent with the first request only, then set to nil.
	node  *corev3.Node
	types map[string]*sotwType
	// decode says what responses keep of their resources.
	decode decodeOptions
}

// sotwType is the protocol state of one type on a sotwStream.
type sotwType struct {
	// names are the names subscribed to; nil for a wildcard subscription.
	names []string
	// version is the version of the last accepted response, nonce the nonce of the last
	// response received.
	version, nonce string
}

func newSotwStream(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *corev3.Node, o decodeOptions) *sotwStream {
	return &sotwStream{stream: s, node: node, types: map[string]*sotwType{}, decode: o}
}

// watchAll subscribes to every resource of typeURL. The request names no resource: it is
// the legacy wildcard form that Envoy sends. A request naming "*" would do on the protocol,
// but go-control-plane's ADS snapshot cache only answers a named request that lists every
// resource of its type, and never answers one that names "*".
func (s *sotwStream) watchAll(typeURL string) error {
	t := &sotwType{}
	s.types[typeURL] = t
	return s.send(typeURL, t, nil)
}

// watch sets the names subscribed to for typeURL. Every state-of-the-world request carries
// the full set. The first request of a type is only sent once there is a name to subscribe
// to: a first request with no names would be a wildcard subscription.
func (s *sotwStream) watch(c subscriptionChange) error {
	t := s.types[c.typeURL]
	if t == nil {
		if len(c.names) == 0 {
			return nil
		}
		t = &sotwType{}
		s.types[c.typeURL] = t
	}
	// A non-nil empty slice: unsubscribing from everything is not a wildcard once a first
	// request has named resources (the server keeps track of that). The names are shared
	// with the state's subscriptions, which are replaced, never modified.
	t.names = c.names
	if t.names == nil {
		t.names = []string{}
	}
	return s.send(c.typeURL, t, nil)
}

func (s *sotwStream) recv() (*response, error) {
	resp, err := s.stream.Recv()
	if err != nil {
		return nil, err
	}
	if resp.GetTypeUrl() == "" {
		return nil, errNoResponseType
	}
	r := newResponse(resp.GetTypeUrl(), resp.GetVersionInfo(), resp.GetNonce(), len(resp.GetResources()), s.decode)
	// Listeners and clusters are full-state in the state of the world: a response holds all
	// of them, and those it lacks are gone.
	r.fullState = r.typeURL == resource.ListenerType || r.typeURL == resource.ClusterType
	for _, a := range resp.GetResources() {
		r.add(a, "", r.version)
	}
	r.finish()
	t := s.types[r.typeURL]
	if t == nil {
		r.unsolicited = true
		return r, nil
	}
	t.nonce = r.nonce
	return r, nil
}

// reply ACKs r (cause nil) or NACKs it. The request carries r's nonce and the version last
// accepted: r's own on an ACK, the previous one on a NACK, as Envoy does.
func (s *sotwStream) reply(r *response, cause error) error {
	t := s.types[r.typeURL]
	if cause == nil {
		t.version = r.version
	}
	return s.send(r.typeURL, t, cause)
}

func (s *sotwStream) send(typeURL string, t *sotwType, cause error) error {
	req := &discoveryv3.DiscoveryRequest{
		Node:          s.node,
		TypeUrl:       typeURL,
		VersionInfo:   t.version,
		ResourceNames: t.names,
		ResponseNonce: t.nonce,
	}
	if cause != nil {
		// Envoy NACKs with code INTERNAL and the reason it rejected the update.
		req.ErrorDetail = status.New(codes.Internal, cause.Error()).Proto()
	}
	s.node = nil
	return s.stream.Send(req)
}
