package translate

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

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
// Translator (or Translate). Items are matched in the model's order (its slices are
// sorted by name): a model that is not sorted is translated right, only more slowly.
//
// A Translator is not safe for concurrent use: it is one controller's, called from its one
// publishing loop. Its results are those of Translate with the same options, byte for
// byte; a failed call leaves it as it was.
type Translator struct {
	o       Options
	prev    *generation
	scratch scratch
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
	spare := tr.scratch.spare
	if spare == nil {
		spare = &generation{}
	}
	g := &generation{n: tr.prev.n + 1, t: newTranslator(m, tr.o, &tr.scratch), prev: tr.prev, spare: spare}
	r, err := g.translate()
	g.dropped = g.t.dropped
	g.t, g.prev, g.spare = nil, nil, nil // keep one generation, and no model
	if err != nil {
		tr.scratch.spare = g // its lists hold the spare's arrays
		return nil, err
	}
	tr.scratch.spare, tr.prev = tr.prev, g
	return r, nil
}

// encoding is a message's deterministic encoding (cachev3.MarshalResource) and, for a
// resource, its name and hash. Nothing is sealed before it has been validated.
type encoding struct {
	enc    []byte
	name   string
	hash   string
	sealed bool
}

// piece is a resource, or part of one (a virtual host, a filter chain), as served. A
// piece of a previous generation is sealed and never changes again (but for a part's
// encoding, which comes to alias the same bytes in the resource assembled from it); a new
// one is sealed in the generation that built it, which is dropped if translation fails.
//
// A sealed piece has no message, only its encoding: later calls need nothing else (the
// big resources are assembled from their parts' encodings, and Resources holds
// encodings), and the messages of a whole model would be most of what a Translator
// keeps (Resources.Decode gives them back).
type piece[T validator] struct {
	msg T // nil once sealed
	encoding
}

// drop forgets the message of p, sealed.
func (p *piece[T]) drop() {
	var zero T
	p.msg = zero
}

// resourceName is the name of the resource p is.
func (p *piece[T]) resourceName() string {
	if p.sealed {
		return p.name
	}
	return cachev3.GetResourceName(p.msg)
}

// clusterEntry is a served cluster's translation and the CA bundle it inlines (nil when
// none): Secret data is compared by content.
type clusterEntry struct {
	c   *model.Cluster
	ca  *caBundle
	res *piece[*clusterv3.Cluster]
}

// caBundle is an upstream CA bundle a cluster inlines, and the Secret it comes from.
type caBundle struct {
	key  model.Key
	data []byte
}

// newCABundle copies the bundle data of the Secret key; nil when key is zero.
func newCABundle(key model.Key, data []byte) *caBundle {
	if key.IsZero() {
		return nil
	}
	return &caBundle{key: key, data: slices.Clone(data)}
}

// is reports whether the cluster inlines data (nil: none).
func (b *caBundle) is(data []byte) bool {
	if b == nil {
		return len(data) == 0
	}
	return bytes.Equal(b.data, data)
}

// endpointsEntry is a used ClusterLoadAssignment's translation.
type endpointsEntry struct {
	cla *model.ClusterLoadAssignment
	res *piece[*endpointv3.ClusterLoadAssignment]
}

// vhostEntry is a vhost's routes: the insecure side (in ingress_http) and, once the vhost
// has been served on HTTPS, the secure side with https/<fqdn>. Both depend on the
// *model.VirtualHost and on the clusters left out (generation.dropped).
type vhostEntry struct {
	gen      uint64 // the generation that last built a piece of it
	vh       *model.VirtualHost
	insecure *piece[*routev3.VirtualHost]
	secure   *piece[*routev3.VirtualHost]
	https    *piece[*routev3.RouteConfiguration]
}

// chainEntry is a filter chain of ingress_https, what it was built from, and the vhost
// that last had it: while that vhost is the same, only the data of its client CA and CRL
// (when data is set) can change the chain.
type chainEntry struct {
	gen   uint64 // the generation that built it
	vh    *model.VirtualHost
	fqdn  string
	data  bool
	in    *chainInputs
	chain *piece[*listenerv3.FilterChain]
}

// secretEntry is a served certificate's SDS secret and the bytes it serves, compared with
// the Secret's data on every call.
type secretEntry struct {
	key      model.Key
	crt, pem []byte
	res      *piece[*tlsv3.Secret]
}

// generation is what one Translate call built or reused for the next: the entries of the
// model's items, in the model's order.
type generation struct {
	n     uint64      // one more than the previous generation's
	t     *translator // during the call
	prev  *generation // during the call; never nil
	spare *generation // during the call, whose entry lists this one reuses; never nil

	// dropped is translator.dropped: every vhost's routes depend on it.
	dropped map[string]bool
	// used are the EDS names of the served clusters, shared while those do not change.
	used map[string]bool

	clusters  []clusterEntry   // the served clusters
	endpoints []endpointsEntry // the used assignments
	vhosts    []vhostEntry
	chains    []chainEntry // the served TLS vhosts', in fqdn order
	fallback  *chainEntry  // the fallback-certificate chain; nil when not served
	secrets   []secretEntry

	httpListener   *piece[*listenerv3.Listener]
	httpsListener  *assembly[*listenerv3.Listener, *listenerv3.FilterChain]
	httpRoutes     *assembly[*routev3.RouteConfiguration, *routev3.VirtualHost]
	fallbackRoutes *assembly[*routev3.RouteConfiguration, *routev3.VirtualHost]

	// outs are what each type gave Resources (see typeOut).
	outs map[resource.Type]*typeOut
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
	g.outs = make(map[resource.Type]*typeOut, len(typeOrder))
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
	return r, nil
}

// find returns the entry of prev, a list sorted like the items looked up, that order
// says is the item's (0; negative: an entry before it; positive: after it), scanning on
// from *next: looking items up in order costs one pass over prev.
func find[E any](prev []E, next *int, order func(E) int) (E, bool) {
	for *next < len(prev) {
		e := prev[*next]
		switch c := order(e); {
		case c < 0:
			*next++
		case c == 0:
			*next++
			return e, true
		default:
			var zero E
			return zero, false
		}
	}
	var zero E
	return zero, false
}

// buildClusters decides which clusters are served (translator.dropped: not those whose
// upstream CA has no data) and translates those that are new: a new *model.Cluster that
// differs from the one it replaces, or a new CA bundle. An unchanged cluster is not even
// read: its entry knows its CA Secret.
func (g *generation) buildClusters() error {
	g.clusters = reuse(g.spare.clusters, len(g.t.m.Clusters))
	next, same := 0, 0
	for _, c := range g.t.m.Clusters {
		e, ok := find(g.prev.clusters, &next, func(e clusterEntry) int {
			if e.c == c {
				return 0
			}
			return strings.Compare(e.c.Name, c.Name)
		})
		var caKey model.Key
		switch {
		case ok && e.c == c && e.ca != nil:
			caKey = e.ca.key
		case !ok || e.c != c:
			caKey = upstreamCAKey(c)
		}
		ca := g.t.caData(caKey)
		if !caKey.IsZero() && len(ca) == 0 {
			g.t.leaveOut(c, caKey)
			continue
		}
		if ok && (e.c == c || e.c.EDSName == c.EDSName) {
			same++
		}
		switch {
		case ok && e.c == c && e.ca.is(ca):
		case ok && e.ca.is(ca) && reflect.DeepEqual(e.c, c):
			e.c = c // rebuilt as it was
		default:
			msg, err := g.t.cluster(c)
			if err != nil {
				return fmt.Errorf("cluster %s: %w", c.Name, err)
			}
			e = clusterEntry{c: c, ca: newCABundle(caKey, ca), res: &piece[*clusterv3.Cluster]{msg: msg}}
		}
		g.clusters = append(g.clusters, e)
	}
	if same == len(g.clusters) && same == len(g.prev.clusters) {
		g.used = g.prev.used // the same EDS names are used
	}
	return nil
}

// buildRoutes translates the virtual hosts that are new: a new *model.VirtualHost that
// differs from the one it replaces, every one when the clusters left out changed, and the
// secure side of a vhost newly served on HTTPS.
func (g *generation) buildRoutes() error {
	var prev []vhostEntry
	if maps.Equal(g.prev.dropped, g.t.dropped) {
		prev = g.prev.vhosts
	}
	g.vhosts = reuse(g.spare.vhosts, len(g.t.m.VirtualHosts))[:len(g.t.m.VirtualHosts)]
	next := 0
	for i, vh := range g.t.m.VirtualHosts {
		e, ok := find(prev, &next, func(e vhostEntry) int {
			if e.vh == vh {
				return 0
			}
			return strings.Compare(e.vh.FQDN, vh.FQDN)
		})
		switch {
		case ok && e.vh == vh:
		case ok && reflect.DeepEqual(e.vh, vh):
			e.vh = vh // rebuilt as it was
		default:
			v, err := g.t.virtualHost(vh, false)
			if err != nil {
				return fmt.Errorf("route configuration %s: %w", HTTPRouteConfigName, err)
			}
			e = vhostEntry{gen: g.n, vh: vh, insecure: &piece[*routev3.VirtualHost]{msg: v}}
		}
		g.vhosts[i] = e
	}
	at := 0
	for _, vh := range g.t.secure {
		e := &g.vhosts[g.vhostIndex(vh, &at)]
		if e.secure != nil {
			continue
		}
		name := HTTPSRouteConfigName(vh.FQDN)
		v, err := g.t.virtualHost(vh, true)
		if err != nil {
			return fmt.Errorf("route configuration %s: %w", name, err)
		}
		e.gen, e.secure = g.n, &piece[*routev3.VirtualHost]{msg: v}
		e.https = &piece[*routev3.RouteConfiguration]{msg: &routev3.RouteConfiguration{
			Name: name, VirtualHosts: []*routev3.VirtualHost{v},
		}}
	}
	return nil
}

// vhostIndex is the index in g.vhosts of vh, a vhost of the model, searching from *at
// round the list: looking the served TLS vhosts up in order costs one pass.
func (g *generation) vhostIndex(vh *model.VirtualHost, at *int) int {
	n := len(g.vhosts)
	for k := range n {
		if i := (*at + k) % n; g.vhosts[i].vh == vh {
			*at = i + 1
			return i
		}
	}
	panic("translate: a served TLS vhost is not in the model")
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
	g.chains = reuse(g.spare.chains, len(g.t.secure))[:len(g.t.secure)]
	next := 0
	for i, vh := range g.t.secure {
		e, ok := find(g.prev.chains, &next, func(e chainEntry) int {
			if e.vh == vh {
				return 0
			}
			return strings.Compare(e.fqdn, vh.FQDN)
		})
		if !ok || e.vh != vh || e.data {
			var in chainInputs
			if ok && e.vh == vh {
				in = e.in.withData(g.t)
			} else {
				in = g.t.chainInputs(vh)
			}
			if !ok || !e.in.equal(in) {
				fc, err := g.t.vhostChain(vh, router)
				if err != nil {
					return fmt.Errorf("listener %s: %w", HTTPSListenerName, err)
				}
				in = in.clone()
				e = chainEntry{gen: g.n, fqdn: vh.FQDN, data: in.key.hasCV, in: &in, chain: &piece[*listenerv3.FilterChain]{msg: fc}}
			}
		}
		e.vh = vh
		g.chains[i] = e
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
	g.fallback = &chainEntry{fqdn: FallbackFilterChain, in: &in, chain: &piece[*listenerv3.FilterChain]{msg: fc}}
	return nil
}

// buildEndpoints translates the used load assignments that are new: a new
// *model.ClusterLoadAssignment that differs from the one it replaces.
func (g *generation) buildEndpoints() {
	usedSame := g.used != nil // set by buildClusters
	if !usedSame {
		g.used = g.t.usedEDSNames()
	}
	g.endpoints = reuse(g.spare.endpoints, len(g.used))
	next := 0
	for _, cla := range g.t.m.Endpoints {
		e, ok := find(g.prev.endpoints, &next, func(e endpointsEntry) int {
			if e.cla == cla {
				return 0
			}
			return strings.Compare(e.cla.Name, cla.Name)
		})
		switch {
		case ok && e.cla == cla && usedSame: // used before, and nothing changed that
		case !g.used[cla.Name]:
			continue
		case ok && e.cla == cla:
		case ok && reflect.DeepEqual(e.cla, cla):
			e.cla = cla // rebuilt as it was
		default:
			e = endpointsEntry{cla: cla, res: &piece[*endpointv3.ClusterLoadAssignment]{msg: loadAssignment(cla)}}
		}
		g.endpoints = append(g.endpoints, e)
	}
}

// buildSecrets translates the served certificates whose data is new.
func (g *generation) buildSecrets() {
	g.secrets = reuse(g.spare.secrets, len(g.t.certs))
	next := 0
	for _, s := range g.t.m.Secrets {
		if !g.t.certs[s] {
			continue
		}
		e, ok := find(g.prev.secrets, &next, func(e secretEntry) int { return e.key.Compare(s.Name) })
		if !ok || !bytes.Equal(e.crt, s.Data[KeyCertificate]) || !bytes.Equal(e.pem, s.Data[KeyPrivateKey]) {
			msg := g.t.secret(s.Name)
			c := msg.GetTlsCertificate()
			e = secretEntry{
				key: s.Name, crt: c.GetCertificateChain().GetInlineBytes(), pem: c.GetPrivateKey().GetInlineBytes(),
				res: &piece[*tlsv3.Secret]{msg: msg},
			}
		}
		g.secrets = append(g.secrets, e)
	}
}
