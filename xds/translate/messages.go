package translate

import (
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// Messages are Envoy resources as messages, each list sorted by name: what
// Resources.Decode gives, and what Validate and CheckReferences check, wherever the
// resources come from (an xDS client's too). They are plain values: change them freely.
type Messages struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// Decode decodes every resource of r from its encoding, each list in name order. Serving
// needs only the encodings; Decode is for what reads the resources (tests, debug views),
// and costs about what translating them afresh does. The messages share no memory with r.
// An error means an encoding is not its type's, which Translate never gives.
func (r *Resources) Decode() (*Messages, error) {
	m := &Messages{}
	var err error
	if m.Listeners, err = decodeType[listenerv3.Listener](r, resource.ListenerType); err != nil {
		return nil, err
	}
	if m.Routes, err = decodeType[routev3.RouteConfiguration](r, resource.RouteType); err != nil {
		return nil, err
	}
	if m.Clusters, err = decodeType[clusterv3.Cluster](r, resource.ClusterType); err != nil {
		return nil, err
	}
	if m.Endpoints, err = decodeType[endpointv3.ClusterLoadAssignment](r, resource.EndpointType); err != nil {
		return nil, err
	}
	if m.Secrets, err = decodeType[tlsv3.Secret](r, resource.SecretType); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeType decodes the resources of type typ in r, in name order, into Ms.
func decodeType[M any, P interface {
	*M
	proto.Message
}](r *Resources, typ resource.Type) ([]P, error) {
	encoded := r.Encoded[typ]
	out := make([]P, 0, len(encoded))
	for _, name := range slices.Sorted(maps.Keys(encoded)) {
		msg := P(new(M))
		if err := proto.Unmarshal(encoded[name], msg); err != nil {
			return nil, fmt.Errorf("decoding %s %s: %w", kindOf(typ), name, err)
		}
		out = append(out, msg)
	}
	return out, nil
}

// ByType returns the resources keyed by type URL, ready for cachev3.NewSnapshot. The slices
// are new; the resources are shared.
func (m *Messages) ByType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ListenerType: asResources(m.Listeners),
		resource.RouteType:    asResources(m.Routes),
		resource.ClusterType:  asResources(m.Clusters),
		resource.EndpointType: asResources(m.Endpoints),
		resource.SecretType:   asResources(m.Secrets),
	}
}

func asResources[T types.Resource](list []T) []types.Resource {
	out := make([]types.Resource, len(list))
	for i, r := range list {
		out[i] = r
	}
	return out
}
