package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/projectwarden/warden/controller/model"
)

// usedEDSNames are the EDS names of the served clusters: only their
// ClusterLoadAssignments are emitted (one EDS name may serve several clusters; one whose
// clusters are all left out is not emitted, since nothing would subscribe to it).
func (t *translator) usedEDSNames() map[string]bool {
	used := make(map[string]bool, len(t.m.Endpoints))
	for _, c := range t.m.Clusters {
		if !t.dropped[c.Name] {
			used[c.EDSName] = true
		}
	}
	return used
}

// loadAssignment translates one ClusterLoadAssignment.
//
// A ready endpoint is HEALTHY. A serving-but-not-ready (terminating) endpoint is DRAINING,
// which Envoy treats as unhealthy: with the panic threshold disabled (see cluster) it gets
// no new requests while it finishes the ones it has. When an assignment has no ready
// endpoint at all, its terminating endpoints are HEALTHY instead: the last resort, as
// kube-proxy falls back to serving terminating endpoints, rather than a 503 for every
// request while a rollout replaces the last pod.
func loadAssignment(cla *model.ClusterLoadAssignment) *endpointv3.ClusterLoadAssignment {
	out := &endpointv3.ClusterLoadAssignment{ClusterName: cla.Name}
	if len(cla.Endpoints) == 0 {
		return out
	}
	anyReady := false
	for _, e := range cla.Endpoints {
		anyReady = anyReady || e.Ready
	}
	lbs := make([]*endpointv3.LbEndpoint, len(cla.Endpoints))
	for i, e := range cla.Endpoints {
		status := corev3.HealthStatus_HEALTHY
		if !e.Ready && anyReady {
			status = corev3.HealthStatus_DRAINING
		}
		lbs[i] = &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(e.Address, uint32(e.Port)),
			}},
			HealthStatus: status,
		}
	}
	// One locality for all endpoints, as in Contour: zones are not used for routing.
	out.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}
	return out
}
