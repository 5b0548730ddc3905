package translate

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/projectwarden/warden/controller/model"
)

// Translator translates the successive models of one controller. Translating, validating,
// marshalling and hashing a whole model takes a few hundred milliseconds at 10,000
// HTTPProxies, and the controller translates after every change, which rebuilds one
// virtual host; so a Translator remembers what it built from each model item and builds,
// validates, marshals and hashes again only what is new.
//
// It relies on the model's invariants (controller/model): Build, Replace, Rebuild and
// RefreshEndpoints put new *model.VirtualHost, *model.Cluster and
// *model.ClusterLoadAssignment values in the model for what they rebuild and never change
// one in place, so an item whose pointer is unchanged is unchanged. model.Secret.Data is
// the exception, filled in place by the caller: what comes from Secret data (certificates,
// CA bundles, CRLs, and which clusters and HTTPS vhosts are served) is compared by
// content on every call. A caller that changes a model item in place must use a new
// Translator (or Translate).
//
// A Translator is not safe for concurrent use: it is one controller's, called from its one
// publishing loop. Its results are those of Translate with the same options, byte for
// byte; a failed call leaves it as it was.
type Translator struct {
	o    Options
	prev *generation
}

// NewTranslator returns a Translator with options o (zero fields take their defaults, as
// in Translate) and nothing remembered yet.
func NewTranslator(o Options) *Translator {
	return &Translator{o: o.withDefaults(), prev: &generation{}}
}

// Translate is Translate(m, o) for the Translator's options, reusing what it built for
// the items of m that its previous successful call saw unchanged. See Translate for the
// result and the errors; on an error the Translator is unchanged.
func (tr *Translator) Translate(m *model.Model) (*Resources, error) {
	g := &generation{t: newTranslator(m, tr.o), prev: tr.prev}
	r, err := g.translate()
	if err != nil {
		return nil, err
	}
	g.dropped = g.t.dropped
	g.t, g.prev = nil, nil // keep one generation, and not the model
	tr.prev = g
	return r, nil
}

// encoding is a message's deterministic encoding (cachev3.MarshalResource) and, for a
// resource, its hash. Nothing is sealed before it has been validated.
type encoding struct {
	enc    []byte
	hash   string
	sealed bool
}

// piece is a resource, or part of one (a virtual host, a filter chain), as served. A
// piece of a previous generation is sealed and never changes again; a new one is sealed
// in the generation that built it, which is dropped if translation fails.
type piece[T validator] struct {
	msg T
	encoding
}

// assembly is a resource assembled from parts (see assemble.go): it is reused as it is
// while its parts are the same pieces in the same order.
type assembly[T, P validator] struct {
	parts []*piece[P]
	res   *piece[T]
}

// clusterEntry is a translated cluster and the CA bundle it inlines (nil when none): the
// bundle comes from Secret data, so it is compared by content, not by the *model.Cluster.
type clusterEntry struct {
	res *piece[*clusterv3.Cluster]
	ca  []byte
}

// vhostEntry is a vhost's routes: the insecure side (in ingress_http) and, once the vhost
// has been served on HTTPS, the secure side with https/<fqdn>. Both depend on the
// *model.VirtualHost and on the clusters left out (generation.dropped).
type vhostEntry struct {
	insecure *piece[*routev3.VirtualHost]
	secure   *piece[*routev3.VirtualHost]
	https    *piece[*routev3.RouteConfiguration]
}

// chainEntry is a filter chain of ingress_https and what it was built from.
type chainEntry struct {
	in    chainInputs
	chain *piece[*listenerv3.FilterChain]
}

// generation is what one Translate call built or reused, by model item, for the next.
type generation struct {
	t    *translator // during the call
	prev *generation // during the call; never nil

	// dropped is translator.dropped: every vhost's routes depend on it.
	dropped map[string]bool

	clusters  map[*model.Cluster]*clusterEntry
	endpoints map[*model.ClusterLoadAssignment]*piece[*endpointv3.ClusterLoadAssignment]
	vhosts    map[*model.VirtualHost]*vhostEntry
	secrets   map[model.Key]*piece[*tlsv3.Secret]
	// chains are the vhosts' filter chains by fqdn, fallback the fallback-certificate
	// chain (nil when not served).
	chains   map[string]*chainEntry
	fallback *chainEntry

	httpListener   *piece[*listenerv3.Listener]
	httpsListener  *assembly[*listenerv3.Listener, *listenerv3.FilterChain]
	httpRoutes     *assembly[*routev3.RouteConfiguration, *routev3.VirtualHost]
	fallbackRoutes *assembly[*routev3.RouteConfiguration, *routev3.VirtualHost]

	// res is what the call returned: a rebuilt resource that encodes as before shares
	// its encoding and hash.
	res *Resources
}

// translate builds what is new, in the order Translate always has (clusters, routes,
// listeners: build errors), then validates, encodes and hashes it in the ADS type order,
// each type in name order, so that a model with several faults always reports the same
// one whatever was reused.
func (g *generation) translate() (*Resources, error) {
	if err := g.buildClusters(); err != nil {
		return nil, err
	}
	if err := g.buildRoutes(); err != nil {
		return nil, err
	}
	if err := g.buildListeners(); err != nil {
		return nil, err
	}
	r := &Resources{
		Hashes:  make(map[resource.Type]map[string]string, len(typeOrder)),
		Encoded: make(map[resource.Type]map[string][]byte, len(typeOrder)),
	}
	for _, seal := range []func(*Resources) error{
		g.sealClusters, g.sealEndpoints, g.sealListeners, g.sealRoutes, g.sealSecrets,
	} {
		if err := seal(r); err != nil {
			return nil, err
		}
	}
	r.Missing = g.t.missing.sorted()
	g.res = r
	return r, nil
}

// buildClusters translates the clusters that are served and new: a new *model.Cluster, or
// a new CA bundle.
func (g *generation) buildClusters() error {
	g.clusters = make(map[*model.Cluster]*clusterEntry, len(g.t.m.Clusters))
	for _, c := range g.t.m.Clusters {
		if g.t.dropped[c.Name] {
			continue
		}
		ca := g.t.upstreamCA(c)
		if e := g.prev.clusters[c]; e != nil && bytes.Equal(e.ca, ca) {
			g.clusters[c] = e
			continue
		}
		msg, err := g.t.cluster(c)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		g.clusters[c] = &clusterEntry{res: &piece[*clusterv3.Cluster]{msg: msg}, ca: slices.Clone(ca)}
	}
	return nil
}

// buildRoutes translates the virtual hosts that are new: a new *model.VirtualHost, every
// one when the clusters left out changed, and the secure side of a vhost newly served on
// HTTPS.
func (g *generation) buildRoutes() error {
	reuse := maps.Equal(g.prev.dropped, g.t.dropped)
	g.vhosts = make(map[*model.VirtualHost]*vhostEntry, len(g.t.m.VirtualHosts))
	for _, vh := range g.t.m.VirtualHosts {
		if e := g.prev.vhosts[vh]; reuse && e != nil {
			g.vhosts[vh] = e
			continue
		}
		v, err := g.t.virtualHost(vh, false)
		if err != nil {
			return fmt.Errorf("route configuration %s: %w", HTTPRouteConfigName, err)
		}
		g.vhosts[vh] = &vhostEntry{insecure: &piece[*routev3.VirtualHost]{msg: v}}
	}
	for _, vh := range g.t.secure {
		e := g.vhosts[vh]
		if e.secure != nil {
			continue
		}
		name := HTTPSRouteConfigName(vh.FQDN)
		v, err := g.t.virtualHost(vh, true)
		if err != nil {
			return fmt.Errorf("route configuration %s: %w", name, err)
		}
		ne := *e // entries of the previous generation never change
		ne.secure = &piece[*routev3.VirtualHost]{msg: v}
		ne.https = &piece[*routev3.RouteConfiguration]{msg: &routev3.RouteConfiguration{
			Name: name, VirtualHosts: []*routev3.VirtualHost{v},
		}}
		g.vhosts[vh] = &ne
	}
	return nil
}

// buildListeners translates ingress_http the first time, and the filter chains of
// ingress_https whose inputs are new.
func (g *generation) buildListeners() error {
	router, err := routerFilter()
	if err != nil {
		return err
	}
	g.httpListener = g.prev.httpListener // it depends on the options only
	if g.httpListener == nil {
		l, err := g.t.httpListener(router)
		if err != nil {
			return err
		}
		g.httpListener = &piece[*listenerv3.Listener]{msg: l}
	}
	g.chains = make(map[string]*chainEntry, len(g.t.secure))
	for _, vh := range g.t.secure {
		in := g.t.chainInputs(vh)
		if e := g.prev.chains[vh.FQDN]; e != nil && e.in.equal(in) {
			g.chains[vh.FQDN] = e
			continue
		}
		fc, err := g.t.vhostChain(vh, router)
		if err != nil {
			return fmt.Errorf("listener %s: %w", HTTPSListenerName, err)
		}
		g.chains[vh.FQDN] = &chainEntry{in: in.clone(), chain: &piece[*listenerv3.FilterChain]{msg: fc}}
	}
	if len(g.t.fallback) == 0 {
		return nil
	}
	in := chainInputs{key: chainKey{tls: model.TLS{SecretRef: g.t.fallbackCert}}}
	if e := g.prev.fallback; e != nil && e.in.equal(in) {
		g.fallback = e
		return nil
	}
	fc, err := g.t.fallbackChain(router)
	if err != nil {
		return fmt.Errorf("listener %s: %w", HTTPSListenerName, err)
	}
	g.fallback = &chainEntry{in: in, chain: &piece[*listenerv3.FilterChain]{msg: fc}}
	return nil
}

// sealClusters seals the served clusters and adds them to r.
func (g *generation) sealClusters(r *Resources) error {
	list := make([]*piece[*clusterv3.Cluster], 0, len(g.clusters))
	for _, c := range g.t.m.Clusters {
		if e := g.clusters[c]; e != nil {
			list = append(list, e.res)
		}
	}
	var err error
	r.Clusters, err = emit(g, r, resource.ClusterType, list)
	return err
}

// sealEndpoints translates the load assignments of the served clusters that are new (a
// new *model.ClusterLoadAssignment), seals them and adds them to r.
func (g *generation) sealEndpoints(r *Resources) error {
	used := g.t.usedEDSNames()
	g.endpoints = make(map[*model.ClusterLoadAssignment]*piece[*endpointv3.ClusterLoadAssignment], len(used))
	list := make([]*piece[*endpointv3.ClusterLoadAssignment], 0, len(used))
	for _, cla := range g.t.m.Endpoints {
		if !used[cla.Name] {
			continue
		}
		p := g.prev.endpoints[cla]
		if p == nil {
			p = &piece[*endpointv3.ClusterLoadAssignment]{msg: loadAssignment(cla)}
		}
		g.endpoints[cla] = p
		list = append(list, p)
	}
	var err error
	r.Endpoints, err = emit(g, r, resource.EndpointType, list)
	return err
}

// sealListeners seals ingress_http and assembles ingress_https from the filter chains of
// the served TLS vhosts, in fqdn order, then the fallback chain; the previous listener is
// reused when its chains are the same.
func (g *generation) sealListeners(r *Resources) error {
	if err := seal(g, g.httpListener, resource.ListenerType, HTTPListenerName); err != nil {
		return err
	}
	list := []*piece[*listenerv3.Listener]{g.httpListener}
	chains := make([]*piece[*listenerv3.FilterChain], 0, len(g.t.secure)+1)
	for _, vh := range g.t.secure {
		p := g.chains[vh.FQDN].chain
		if err := sealPart(p, fmt.Sprintf("listener %s: filter chain %q", HTTPSListenerName, vh.FQDN)); err != nil {
			return err
		}
		chains = append(chains, p)
	}
	if g.fallback != nil {
		p := g.fallback.chain
		if err := sealPart(p, "listener "+HTTPSListenerName+": filter chain "+FallbackFilterChain); err != nil {
			return err
		}
		chains = append(chains, p)
	}
	if len(chains) > 0 {
		a, err := assembleResource(g, g.prev.httpsListener, resource.ListenerType, g.t.httpsShell, chains)
		if err != nil {
			return err
		}
		g.httpsListener = a
		list = append(list, a.res)
	}
	var err error
	r.Listeners, err = emit(g, r, resource.ListenerType, list)
	return err
}

// sealRoutes seals https/<fqdn> of the served TLS vhosts, and assembles
// ingress_fallbackcert (their secure sides, for those using the fallback certificate) and
// ingress_http (every vhost's insecure side), in name order; an assembly is reused when its
// virtual hosts are the same.
func (g *generation) sealRoutes(r *Resources) error {
	list := make([]*piece[*routev3.RouteConfiguration], 0, len(g.t.secure)+2)
	var fallback []*piece[*routev3.VirtualHost]
	for _, vh := range g.t.secure { // in fqdn order, hence https/<fqdn> in name order
		e := g.vhosts[vh]
		if err := g.sealHTTPS(e); err != nil {
			return err
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
	insecure := make([]*piece[*routev3.VirtualHost], len(g.t.m.VirtualHosts))
	for i, vh := range g.t.m.VirtualHosts {
		p := g.vhosts[vh].insecure
		if err := sealPart(p, "route configuration "+HTTPRouteConfigName+": virtual host "+vh.FQDN); err != nil {
			return err
		}
		insecure[i] = p
	}
	a, err := assembleResource(g, g.prev.httpRoutes, resource.RouteType, routeShell(HTTPRouteConfigName), insecure)
	if err != nil {
		return err
	}
	g.httpRoutes = a
	list = append(list, a.res)
	r.Routes, err = emit(g, r, resource.RouteType, list)
	return err
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
	split, err := splitShell(&routev3.RouteConfiguration{Name: rc.GetName()}, "virtual_hosts")
	if err != nil {
		return err
	}
	g.encode(&e.https.encoding, resource.RouteType, rc.GetName(), split.assemble([][]byte{b}))
	return nil
}

// sealSecrets translates the served certificates whose data is new, seals them and adds
// them to r.
func (g *generation) sealSecrets(r *Resources) error {
	g.secrets = make(map[model.Key]*piece[*tlsv3.Secret], len(g.t.certs))
	list := make([]*piece[*tlsv3.Secret], 0, len(g.t.certs))
	for _, s := range g.t.m.Secrets { // sorted by key: the names are all but always sorted
		if !g.t.certs[s.Name] {
			continue
		}
		p := g.prev.secrets[s.Name]
		if p == nil || !sameCertificate(p.msg, s.Data) {
			p = &piece[*tlsv3.Secret]{msg: g.t.secret(s.Name)}
		}
		g.secrets[s.Name] = p
		list = append(list, p)
	}
	var err error
	r.Secrets, err = emit(g, r, resource.SecretType, list)
	return err
}

// sameCertificate reports whether the SDS secret s serves the certificate in data.
func sameCertificate(s *tlsv3.Secret, data map[string][]byte) bool {
	c := s.GetTlsCertificate()
	return bytes.Equal(c.GetCertificateChain().GetInlineBytes(), data[KeyCertificate]) &&
		bytes.Equal(c.GetPrivateKey().GetInlineBytes(), data[KeyPrivateKey])
}

// emit seals the resources of one type, sorts them by name and adds them to r.
func emit[T validator](g *generation, r *Resources, typ resource.Type, list []*piece[T]) ([]T, error) {
	byName := func(a, b *piece[T]) int {
		return cmp.Compare(cachev3.GetResourceName(a.msg), cachev3.GetResourceName(b.msg))
	}
	if !slices.IsSortedFunc(list, byName) {
		slices.SortStableFunc(list, byName)
	}
	hashes := make(map[string]string, len(list))
	encoded := make(map[string][]byte, len(list))
	out := make([]T, len(list))
	for i, p := range list {
		name := cachev3.GetResourceName(p.msg)
		if err := seal(g, p, typ, name); err != nil {
			return nil, err
		}
		out[i] = p.msg
		hashes[name], encoded[name] = p.hash, p.enc
	}
	r.Hashes[typ], r.Encoded[typ] = hashes, encoded
	return out, nil
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
	return nil
}

// encode seals e with the encoding b of the resource typ/name and its hash. When the
// previous call encoded the resource identically (a rebuilt vhost whose clusters did not
// change), its bytes and hash are shared: unchanged resources keep their slices.
func (g *generation) encode(e *encoding, typ resource.Type, name string, b []byte) {
	if g.prev.res != nil {
		if old, ok := g.prev.res.Encoded[typ][name]; ok && bytes.Equal(old, b) {
			e.enc, e.hash, e.sealed = old, g.prev.res.Hashes[typ][name], true
			return
		}
	}
	e.enc, e.hash, e.sealed = b, cachev3.HashResource(b), true
}

// assembleResource assembles a resource from its shell (shell builds it, without parts)
// and its parts, sealed, unless prev has the same parts: then prev is the result. The
// shell is validated on its own: the parts were.
func assembleResource[T, P validator](g *generation, prev *assembly[T, P], typ resource.Type, shell func() (T, error), parts []*piece[P]) (*assembly[T, P], error) {
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
	field := repeatedField(msg)
	split, err := splitShell(msg, field.Name())
	if err != nil {
		return nil, err
	}
	encs := make([][]byte, len(parts))
	list := msg.ProtoReflect().Mutable(field).List()
	for i, p := range parts {
		encs[i] = p.enc
		list.Append(protoreflect.ValueOfMessage(p.msg.ProtoReflect()))
	}
	a := &assembly[T, P]{parts: parts, res: &piece[T]{msg: msg}}
	g.encode(&a.res.encoding, typ, name, split.assemble(encs))
	return a, nil
}

// repeatedField is the field of an assembled resource that holds its parts.
func repeatedField(m proto.Message) protoreflect.FieldDescriptor {
	fields := m.ProtoReflect().Descriptor().Fields()
	switch m.(type) {
	case *routev3.RouteConfiguration:
		return fields.ByName("virtual_hosts")
	case *listenerv3.Listener:
		return fields.ByName("filter_chains")
	default:
		panic(fmt.Sprintf("translate: %T is not assembled", m))
	}
}

// routeShell builds a route configuration without virtual hosts.
func routeShell(name string) func() (*routev3.RouteConfiguration, error) {
	return func() (*routev3.RouteConfiguration, error) { return &routev3.RouteConfiguration{Name: name}, nil }
}
