package client

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// wildcard is the resource name of an explicit wildcard subscription.
const wildcard = "*"

// deltaStream speaks incremental xDS on a DeltaAggregatedResources stream.
//
// Concurrency: used by Run's goroutine only.
type deltaStream struct {
	stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	// node is sent with the first request only, then set to nil.
	node *corev3.Node
	// started holds the types a first request has been sent for.
	started map[string]bool
	// decode says what responses keep of their resources.
	decode decodeOptions
}

func newDeltaStream(s discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, node *corev3.Node, o decodeOptions) *deltaStream {
	return &deltaStream{stream: s, node: node, started: map[string]bool{}, decode: o}
}

// watchAll subscribes to every resource of typeURL with an explicit wildcard ("*"). An empty
// first request would also be a wildcard subscription (the legacy form), but the explicit
// one stays a wildcard whatever names are added later, and works on servers that turn the
// legacy form off.
func (s *deltaStream) watchAll(typeURL string) error {
	s.started[typeURL] = true
	return s.send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl:                typeURL,
		ResourceNamesSubscribe: []string{wildcard},
	})
}

// watch sends the changes of the names subscribed to for typeURL. The first request of a
// type is only sent once there is a name to subscribe to: a first request subscribing to
// nothing would be a (legacy) wildcard subscription.
func (s *deltaStream) watch(c subscriptionChange) error {
	if !s.started[c.typeURL] && len(c.added) == 0 {
		return nil
	}
	s.started[c.typeURL] = true
	return s.send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl:                  c.typeURL,
		ResourceNamesSubscribe:   c.added,
		ResourceNamesUnsubscribe: c.removed,
	})
}

func (s *deltaStream) recv() (*response, error) {
	resp, err := s.stream.Recv()
	if err != nil {
		return nil, err
	}
	if resp.GetTypeUrl() == "" {
		return nil, errNoResponseType
	}
	r := newResponse(resp.GetTypeUrl(), resp.GetSystemVersionInfo(), resp.GetNonce(), len(resp.GetResources()), s.decode)
	r.unsolicited = !s.started[r.typeURL]
	for _, res := range resp.GetResources() {
		if res.GetResource() == nil {
			// A TTL heartbeat: the resource is unchanged.
			continue
		}
		r.add(res.GetResource(), res.GetName(), res.GetVersion())
	}
	r.removed = resp.GetRemovedResources()
	r.finish()
	return r, nil
}

// reply ACKs r (cause nil) or NACKs it, with r's nonce.
func (s *deltaStream) reply(r *response, cause error) error {
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.typeURL, ResponseNonce: r.nonce}
	if cause != nil {
		// Envoy NACKs with code INTERNAL and the reason it rejected the update.
		req.ErrorDetail = status.New(codes.Internal, cause.Error()).Proto()
	}
	return s.send(req)
}

func (s *deltaStream) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	req.Node = s.node
	s.node = nil
	return s.stream.Send(req)
}
