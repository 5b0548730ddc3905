package translate

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Sealing: what a generation built is validated, encoded and hashed, each resource type
// in turn, and added to the Resources.

// sealClusters seals the served clusters and adds them to r.
func (g *generation) sealClusters(r *Resources) error {
	return emit(g, r, resource.ClusterType, len(g.clusters),
		func(i int) *piece[*clusterv3.Cluster] { return g.clusters[i].res })
}

// sealEndpoints seals the used load assignments and adds them to r.
func (g *generation) sealEndpoints(r *Resources) error {
	g.buildEndpoints()
	return emit(g, r, resource.EndpointType, len(g.endpoints),
		func(i int) *piece[*endpointv3.ClusterLoadAssignment] { return g.endpoints[i].res })
}

// sealSecrets seals the served certificates and adds them to r.
func (g *generation) sealSecrets(r *Resources) error {
	g.buildSecrets()
	return emit(g, r, resource.SecretType, len(g.secrets),
		func(i int) *piece[*tlsv3.Secret] { return g.secrets[i].res })
}

// sealListeners seals ingress_http and assembles ingress_https from the filter chains of
// the served TLS vhosts, in fqdn order, then the fallback chain; the previous listener is
// reused when its chains are the same.
func (g *generation) sealListeners(r *Resources) error {
	if err := seal(g, g.httpListener, resource.ListenerType, HTTPListenerName); err != nil {
		return err
	}
	list := []*piece[*listenerv3.Listener]{g.httpListener}
	chains := make([]*piece[*listenerv3.FilterChain], 0, len(g.chains)+1)
	for _, e := range g.chains {
		if e.gen == g.n { // only what this call built needs sealing
			if err := sealPart(e.chain, fmt.Sprintf("listener %s: filter chain %q", HTTPSListenerName, e.fqdn)); err != nil {
				return err
			}
		}
		chains = append(chains, e.chain)
	}
	if g.fallback != nil {
		if err := sealPart(g.fallback.chain, "listener "+HTTPSListenerName+": filter chain "+FallbackFilterChain); err != nil {
			return err
		}
		chains = append(chains, g.fallback.chain)
	}
	if len(chains) > 0 {
		a, err := assembleResource(g, g.prev.httpsListener, resource.ListenerType, g.t.httpsShell, chains)
		if err != nil {
			return err
		}
		g.httpsListener = a
		list = append(list, a.res)
	}
	return emit(g, r, resource.ListenerType, len(list), func(i int) *piece[*listenerv3.Listener] { return list[i] })
}

// sealRoutes seals https/<fqdn> of the served TLS vhosts, and assembles
// ingress_fallbackcert (their secure sides, for those using the fallback certificate) and
// ingress_http (every vhost's insecure side), in name order; an assembly is reused when its
// virtual hosts are the same.
func (g *generation) sealRoutes(r *Resources) error {
	list := make([]*piece[*routev3.RouteConfiguration], 0, len(g.t.secure)+2)
	var fallback []*piece[*routev3.VirtualHost]
	at := 0
	for _, vh := range g.t.secure { // in fqdn order, hence https/<fqdn> in name order
		e := &g.vhosts[g.vhostIndex(vh, &at)]
		if e.gen == g.n { // only what this call built needs sealing
			if err := g.sealHTTPS(e); err != nil {
				return err
			}
		}
		list = append(list, e.https)
		if g.t.fallback[vh.FQDN] {
			fallback = append(fallback, e.secure)
		}
	}
	if len(fallback) > 0 {
		a, err := assembleResource(g, g.prev.fallbackRoutes, resource.RouteType, routeShell(FallbackRouteConfig), fallback)
		if err != nil {
			return err
		}
		g.fallbackRoutes = a
		list = append(list, a.res)
	}
	insecure := make([]*piece[*routev3.VirtualHost], len(g.vhosts))
	for i, e := range g.vhosts {
		if e.gen == g.n {
			if err := sealPart(e.insecure, "route configuration "+HTTPRouteConfigName+": virtual host "+e.vh.FQDN); err != nil {
				return err
			}
		}
		insecure[i] = e.insecure
	}
	a, err := assembleResource(g, g.prev.httpRoutes, resource.RouteType, routeShell(HTTPRouteConfigName), insecure)
	if err != nil {
		return err
	}
	g.httpRoutes = a
	list = append(list, a.res)
	return emit(g, r, resource.RouteType, len(list), func(i int) *piece[*routev3.RouteConfiguration] { return list[i] })
}

// sealHTTPS validates https/<fqdn> as a whole, so that an error names it as it always
// has, then encodes it from its virtual host's encoding, which fallback assemblies reuse.
func (g *generation) sealHTTPS(e *vhostEntry) error {
	if e.https.sealed {
		return nil
	}
	rc := e.https.msg
	if err := rc.ValidateAll(); err != nil {
		return invalid(kindOf(resource.RouteType)+" "+rc.GetName()+culprit(rc), err)
	}
	b, err := deterministic.Marshal(e.secure.msg)
	if err != nil {
		return fmt.Errorf("route configuration %s: %w", rc.GetName(), err)
	}
	e.secure.enc, e.secure.sealed = b, true
	e.secure.drop()
	// The shell is the name alone, field 1: no field comes after the virtual hosts.
	head, err := deterministic.Marshal(&routev3.RouteConfiguration{Name: rc.GetName()})
	if err != nil {
		return fmt.Errorf("route configuration %s: %w", rc.GetName(), err)
	}
	split := shellSplit{head: head, field: virtualHostsField}
	parts := [][]byte{b}
	g.encode(&e.https.encoding, resource.RouteType, rc.GetName(), split.assemble(parts))
	e.https.drop()
	split.alias(e.https.enc, parts)
	e.secure.enc = parts[0]
	return nil
}

// virtualHostsField is the number of RouteConfiguration.virtual_hosts.
var virtualHostsField = (&routev3.RouteConfiguration{}).ProtoReflect().Descriptor().Fields().ByName("virtual_hosts").Number()

// assembly is a resource assembled from parts (see assemble.go): it is reused as it is
// while its parts are the same pieces in the same order.
type assembly[T, P validator] struct {
	parts []*piece[P]
	res   *piece[T]
}

// assembleResource assembles the encoding of a resource from its shell (shell builds it,
// without parts) and the encodings of its parts, sealed, in its repeated field, unless
// prev has the same parts: then prev is the result. The shell is validated on its own:
// the parts were. The whole message is never built: only its encoding is served.
//
// The parts' encodings then alias the resource's: a part is kept once, not twice, and
// parts kept from earlier calls leave the encoding they aliased to the garbage collector
// once the resource assembled from them is replaced. Only the slices change, not the
// bytes, so a call that fails after this still leaves the Translator as it was.
func assembleResource[T, P validator](g *generation, prev *assembly[T, P], typ resource.Type,
	shell func() (T, error), parts []*piece[P]) (*assembly[T, P], error) {
	if prev != nil && slices.Equal(prev.parts, parts) {
		return prev, nil
	}
	msg, err := shell()
	if err != nil {
		return nil, err
	}
	name := cachev3.GetResourceName(msg)
	if err := msg.ValidateAll(); err != nil {
		return nil, invalid(kindOf(typ)+" "+name, err)
	}
	split, err := splitShell(msg, repeatedField(msg))
	if err != nil {
		return nil, err
	}
	encs := make([][]byte, len(parts))
	for i, p := range parts {
		encs[i] = p.enc
	}
	a := &assembly[T, P]{parts: parts, res: &piece[T]{}}
	g.encode(&a.res.encoding, typ, name, split.assemble(encs))
	split.alias(a.res.enc, encs)
	for i, p := range parts {
		p.enc = encs[i]
	}
	return a, nil
}

// repeatedField is the field of an assembled resource that holds its parts.
func repeatedField(m proto.Message) protoreflect.Name {
	switch m.(type) {
	case *routev3.RouteConfiguration:
		return "virtual_hosts"
	case *listenerv3.Listener:
		return "filter_chains"
	default:
		panic(fmt.Sprintf("translate: %T is not assembled", m))
	}
}

// routeShell builds a route configuration without virtual hosts.
func routeShell(name string) func() (*routev3.RouteConfiguration, error) {
	return func() (*routev3.RouteConfiguration, error) { return &routev3.RouteConfiguration{Name: name}, nil }
}

// emit seals the n resources of one type (at gives each) and adds their hashes and
// encodings, in name order, to r. When they are the same pieces as in the previous call,
// that call's maps are shared as they are; the pieces it had are not looked at again.
func emit[T validator](g *generation, r *Resources, typ resource.Type, n int, at func(int) *piece[T]) error {
	prev := g.prev.outs[typ]
	var prevPieces []*piece[T]
	if prev != nil && prev.aligned {
		prevPieces = prev.pieces.([]*piece[T])
		if samePieces(prevPieces, n, at) {
			g.outs[typ] = prev
			r.Hashes[typ], r.Encoded[typ] = prev.hashes, prev.encoded
			return nil
		}
	}
	list := make([]*piece[T], n)
	for i := range list {
		list[i] = at(i)
	}
	from := matchPieces(prevPieces, list)
	names := make([]string, len(list))
	for i, p := range list {
		if j := from[i]; j >= 0 {
			names[i] = prev.names[j]
		} else {
			names[i] = p.resourceName()
		}
	}
	aligned := slices.IsSorted(names)
	if !aligned { // never for a model, whose items are sorted
		sortByName(list, names)
		for i := range from {
			from[i] = -1
		}
	}
	encs := make([]*encoding, len(list))
	for i, p := range list {
		if j := from[i]; j >= 0 {
			encs[i] = prev.encs[j] // the same piece, not looked at again
			continue
		}
		if err := seal(g, p, typ, names[i]); err != nil {
			return err
		}
		encs[i] = &p.encoding
	}
	o := prev.next(names, encs, from)
	o.pieces, o.aligned = list, aligned
	g.outs[typ] = o
	r.Hashes[typ], r.Encoded[typ] = o.hashes, o.encoded
	return nil
}

// sortByName sorts list stably by names, where names[i] is list[i]'s, and names with it.
func sortByName[P any](list []P, names []string) {
	order := make([]int, len(list))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	sorted, sortedNames := make([]P, len(list)), make([]string, len(names))
	for i, j := range order {
		sorted[i], sortedNames[i] = list[j], names[j]
	}
	copy(list, sorted)
	copy(names, sortedNames)
}

// samePieces reports whether the n pieces at gives are list.
func samePieces[T validator](list []*piece[T], n int, at func(int) *piece[T]) bool {
	if len(list) != n {
		return false
	}
	for i, p := range list {
		if at(i) != p {
			return false
		}
	}
	return true
}

// matchPieces finds the pieces of list in prev, both in name order: from[i] is the index
// in prev of list[i], or -1. It follows one list along the other, stepping over one
// piece gone or replaced at a time, so it costs one pass; pieces it misses are only
// looked at again.
func matchPieces[T validator](prev, list []*piece[T]) []int {
	from := make([]int, len(list))
	j := 0
	for i, p := range list {
		switch {
		case j < len(prev) && prev[j] == p:
			from[i], j = j, j+1
		case j+1 < len(prev) && prev[j+1] == p:
			from[i], j = j+1, j+2
		default:
			from[i] = -1
		}
	}
	return from
}

// seal validates, encodes and hashes a new resource.
func seal[T validator](g *generation, p *piece[T], typ resource.Type, name string) error {
	if p.sealed {
		return nil
	}
	if err := p.msg.ValidateAll(); err != nil {
		return invalid(kindOf(typ)+" "+name+culprit(p.msg), err)
	}
	b, err := cachev3.MarshalResource(p.msg)
	if err != nil {
		return fmt.Errorf("%s %s: %w", kindOf(typ), name, err)
	}
	g.encode(&p.encoding, typ, name, b)
	p.drop()
	return nil
}

// sealPart validates and encodes a new part of a resource (a virtual host, a filter
// chain); what names it in errors.
func sealPart[T validator](p *piece[T], what string) error {
	if p.sealed {
		return nil
	}
	if err := p.msg.ValidateAll(); err != nil {
		return invalid(what, err)
	}
	b, err := deterministic.Marshal(p.msg)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.enc, p.sealed = b, true
	p.drop()
	return nil
}

// encode seals e with the encoding b of the resource typ/name and its hash. When the
// previous call encoded the resource identically (a rebuilt vhost whose clusters did not
// change), its bytes and hash are shared: unchanged resources keep their slices.
func (g *generation) encode(e *encoding, typ resource.Type, name string, b []byte) {
	e.name = name
	if prev := g.prev.outs[typ]; prev != nil {
		if old, ok := prev.encoded[name]; ok && bytes.Equal(old, b) {
			e.enc, e.hash, e.sealed = old, prev.hashes[name], true
			return
		}
	}
	e.enc, e.hash, e.sealed = b, cachev3.HashResource(b), true
}

// typeOut is what the resources of one type gave Resources: the pieces, their names, in
// order, their encodings, and the Hashes and Encoded maps, which the next call shares when
// nothing of the type changed, or copies and patches when little did, rather than filling
// maps of thousands of entries on every call.
type typeOut struct {
	// pieces ([]*piece[T]) are the resources in name order; aligned says that is the
	// order emit was given them in.
	pieces  any
	aligned bool

	names   []string
	encs    []*encoding
	hashes  map[string]string
	encoded map[string][]byte
}

// next is the typeOut of the resources names (sorted) with encodings encs, after o (nil
// on the first call); from[i] is the index in o of a resource that is the same piece.
func (o *typeOut) next(names []string, encs []*encoding, from []int) *typeOut {
	n := &typeOut{names: names, encs: encs}
	if o != nil {
		if set, del, ok := o.diff(names, encs, from); ok {
			if len(set) == 0 && len(del) == 0 {
				n.hashes, n.encoded = o.hashes, o.encoded
				return n
			}
			n.hashes, n.encoded = maps.Clone(o.hashes), maps.Clone(o.encoded)
			for _, name := range del {
				delete(n.hashes, name)
				delete(n.encoded, name)
			}
			for _, i := range set {
				n.hashes[names[i]], n.encoded[names[i]] = encs[i].hash, encs[i].enc
			}
			return n
		}
	}
	n.hashes = make(map[string]string, len(names))
	n.encoded = make(map[string][]byte, len(names))
	for i, name := range names {
		n.hashes[name], n.encoded[name] = encs[i].hash, encs[i].enc
	}
	return n
}

// diff compares o with the resources names (sorted) with encodings encs: the indexes of
// those that are new or encode differently (set), the names that are gone (del). ok is
// false when that is more than a quarter of the resources: patching o's maps would cost
// more than filling new ones.
func (o *typeOut) diff(names []string, encs []*encoding, from []int) (set []int, del []string, ok bool) {
	limit := len(names)/4 + 1
	i, j := 0, 0
	for i < len(names) || j < len(o.names) {
		switch {
		case j == len(o.names) || (i < len(names) && names[i] < o.names[j]):
			set = append(set, i)
			i++
		case i == len(names) || o.names[j] < names[i]:
			del = append(del, o.names[j])
			j++
		default:
			if from[i] != j && !sameBytes(encs[i].enc, o.encs[j].enc) {
				set = append(set, i)
			}
			i++
			j++
		}
		if len(set)+len(del) > limit {
			return nil, nil, false
		}
	}
	return set, del, true
}

// sameBytes reports whether a and b are the same slice (not merely equal bytes).
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
