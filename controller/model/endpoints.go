package model

import (
	"cmp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// buildLoadAssignment builds the endpoints of one EDS name from the EndpointSlices of the
// Service svc, keeping the slice ports whose name is portName (any port when portName is
// empty, as for a Service with one unnamed port, and a slice port without a name, as
// Contour does). A port without a protocol counts as TCP, the API default; other protocols
// and FQDN address slices are skipped.
//
// Ready endpoints (conditions.ready true or unset) are kept with Ready set; endpoints
// that are not ready but still serving (terminating) are kept with Ready false, for the
// translator to mark draining; the rest are dropped. Like Contour, only an endpoint's
// first address is used. An address:port present in several slices appears once, ready
// if any copy is, with the least non-empty zone.
func buildLoadAssignment(in Input, name string, svc Key, portName string) *ClusterLoadAssignment {
	type addrPort struct {
		addr string
		port int32
	}
	found := map[addrPort]*Endpoint{}
	for _, slice := range in.EndpointSlices[svc] {
		if slice == nil || slice.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, ep := range slice.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ep.Conditions.Serving != nil && *ep.Conditions.Serving
			if len(ep.Addresses) == 0 || (!ready && !serving) {
				continue
			}
			for _, p := range slice.Ports {
				if !portMatches(p, portName) {
					continue
				}
				k := addrPort{ep.Addresses[0], *p.Port}
				zone := deref(ep.Zone)
				if e, ok := found[k]; ok {
					// Merge copies so that the result does not depend on slice order.
					e.Ready = e.Ready || ready
					if e.Zone == "" || (zone != "" && zone < e.Zone) {
						e.Zone = zone
					}
					continue
				}
				found[k] = &Endpoint{Address: k.addr, Port: k.port, Ready: ready, Zone: zone}
			}
		}
	}
	la := &ClusterLoadAssignment{Name: name}
	for _, e := range found {
		la.Endpoints = append(la.Endpoints, *e)
	}
	slices.SortFunc(la.Endpoints, func(a, b Endpoint) int {
		return cmp.Or(strings.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port), strings.Compare(a.Zone, b.Zone))
	})
	return la
}

// portMatches reports whether an EndpointSlice port serves the Service port portName.
func portMatches(p discoveryv1.EndpointPort, portName string) bool {
	if p.Port == nil {
		return false
	}
	if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
		return false
	}
	return portName == "" || p.Name == nil || *p.Name == portName
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
