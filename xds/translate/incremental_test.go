package translate

import (
	"maps"
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy/fixture"
)

// world is a model with what it is built from, changed as the controller changes it:
// model.Rebuild for changed proxies and Services, RefreshEndpoints for EndpointSlices,
// and Secret data filled in place before each translation.
type world struct {
	in   model.Input
	opts model.Options
	data map[model.Key]map[string][]byte
	m    *model.Model
}

// newWorld builds in's model and fills its Secret data.
func newWorld(in model.Input, opts model.Options, data map[model.Key]map[string][]byte) *world {
	w := &world{in: in, opts: opts, data: data, m: model.Build(in, opts)}
	w.fill()
	return w
}

// fill gives every Secret of the model its data, as the controller does: the same map
// for a Secret that did not change, whose bytes a test may change in place.
func (w *world) fill() {
	for _, s := range w.m.Secrets {
		s.Data = w.data[s.Name]
	}
}

// rebuild rebuilds the vhosts of fqdns, then fills the Secret data.
func (w *world) rebuild(fqdns ...string) {
	w.m.Rebuild(w.in, w.opts, fqdns...)
	w.fill()
}

// fqdns are those of every root and every vhost of the model.
func (w *world) fqdns() []string {
	var out []string
	for _, r := range w.in.Roots {
		out = append(out, strings.ToLower(r.Spec.VirtualHost.Fqdn))
	}
	for _, vh := range w.m.VirtualHosts {
		out = append(out, vh.FQDN)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// setProxy adds or replaces p (a new object, as an informer delivers it) and rebuilds
// the vhosts it is part of, and its own if it is a root.
func (w *world) setProxy(p *contourv1.HTTPProxy) {
	k := model.KeyOf(p)
	w.in.Proxies[k] = p
	w.in.Roots = slices.DeleteFunc(w.in.Roots, func(r *contourv1.HTTPProxy) bool { return model.KeyOf(r) == k })
	fqdns := slices.Clone(w.m.Index.ProxyToFQDNs[k])
	if p.Spec.VirtualHost != nil {
		w.in.Roots = append(w.in.Roots, p)
		fqdns = append(fqdns, strings.ToLower(p.Spec.VirtualHost.Fqdn))
	}
	w.rebuild(fqdns...)
}

// removeProxy removes the proxy k and rebuilds the vhosts it was part of.
func (w *world) removeProxy(k model.Key) {
	delete(w.in.Proxies, k)
	w.in.Roots = slices.DeleteFunc(w.in.Roots, func(r *contourv1.HTTPProxy) bool { return model.KeyOf(r) == k })
	w.rebuild(w.m.Index.ProxyToFQDNs[k]...)
}

// sameResources fails unless got and want are the same resources: names, encodings
// (byte for byte, hence the same messages), hashes and Missing.
func sameResources(t testing.TB, got, want *Resources) {
	t.Helper()
	if diff := cmp.Diff(want.Hashes, got.Hashes); diff != "" {
		t.Errorf("Hashes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Encoded, got.Encoded); diff != "" {
		t.Errorf("Encoded (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Missing, got.Missing); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
}

// translateBoth translates m with tr and afresh, checks both, and fails unless they are
// the same; it returns tr's.
func translateBoth(t testing.TB, tr *Translator, m *model.Model, o Options) *Resources {
	t.Helper()
	got, err := tr.Translate(m)
	if err != nil {
		t.Fatalf("Translator.Translate: %v", err)
	}
	want, err := Translate(m, o)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	checkResources(t, got)
	sameResources(t, got, want)
	return got
}

const ns = "web"

func key(name string) model.Key { return model.Key{Namespace: ns, Name: name} }

// tlsData is the data of a TLS Secret.
func tlsData(name string) map[string][]byte {
	return map[string][]byte{KeyCertificate: []byte(name + " certificate"), KeyPrivateKey: []byte(name + " key")}
}

// realisticWorld has what Translate handles in a few vhosts: two TLS vhosts sharing a
// certificate (one with the fallback certificate and an include, one with client
// validation, a CRL and forwarded client details), a plain vhost with a validated TLS
// upstream weighted with a plain one, and a TLS vhost with its own certificate and an h2c
// upstream.
func realisticWorld() *world {
	in := model.NewInput()
	data := map[model.Key]map[string][]byte{
		key("cert"):        tlsData("cert"),
		key("other-cert"):  tlsData("other-cert"),
		key("fallback"):    tlsData("fallback"),
		key("client-ca"):   {KeyCA: []byte("client CA")},
		key("client-crl"):  {KeyCRL: []byte("client CRL")},
		key("upstream-ca"): {KeyCA: []byte("upstream CA")},
	}
	for k := range data {
		in.Secrets.Insert(k)
	}
	app := fixture.Service(ns, "app", 80)
	secure := fixture.Service(ns, "secure", 443)
	secure.Annotations = map[string]string{"projectcontour.io/upstream-protocol.tls": "443"}
	grpc := fixture.Service(ns, "grpc", 8080)
	grpc.Spec.Ports[0].AppProtocol = ptr("kubernetes.io/h2c")
	for i, s := range []*corev1.Service{app, secure, grpc} {
		in.Add(s)
		port := []discoveryv1.EndpointPort{{Name: ptr(""), Port: ptr(s.Spec.Ports[0].Port + 8000), Protocol: ptr(corev1.ProtocolTCP)}}
		in.Add(endpointSlice(ns, s.Name, s.Name+"-1", port, "10.0.1."+string(rune('1'+i)), "10.0.2."+string(rune('1'+i))))
	}
	in.Add(fixture.Proxy(ns, "a").FQDN("a.example.com").
		TLSWith(func(t *contourv1.TLS) { t.SecretName, t.EnableFallbackCertificate = "cert", true }).
		Include(ns, "blog", fixture.Prefix("/blog")).
		Route("app", 80).Obj())
	in.Add(fixture.Proxy(ns, "blog").Route("app", 80, fixture.Prefix("/posts")).Obj())
	in.Add(fixture.Proxy(ns, "b").FQDN("b.example.com").
		TLSWith(func(t *contourv1.TLS) {
			t.SecretName, t.MinimumProtocolVersion = "cert", "1.3"
			t.ClientValidation = &contourv1.DownstreamValidation{
				CACertificate: "client-ca", CertificateRevocationList: "client-crl",
				ForwardClientCertificate: &contourv1.ClientCertificateDetails{Subject: true, DNS: true},
			}
		}).
		RouteWith(func(r *contourv1.Route) {
			r.PermitInsecure = true
			r.Services = []contourv1.Service{{Name: "app", Port: 80}}
		}).
		Route("app", 80, fixture.Prefix("/secure")).Obj())
	in.Add(fixture.Proxy(ns, "c").FQDN("c.example.com").
		RouteWith(func(r *contourv1.Route) {
			r.Services = []contourv1.Service{
				{Name: "secure", Port: 443, Weight: 90, UpstreamValidation: &contourv1.UpstreamValidation{CACertificate: "upstream-ca", SubjectName: "secure.internal"}},
				{Name: "app", Port: 80, Weight: 10},
			}
		}).Obj())
	in.Add(fixture.Proxy(ns, "d").FQDN("d.example.com").TLS("other-cert").Route("grpc", 8080).Obj())
	return newWorld(in, model.Options{FallbackCertificate: key("fallback")}, data)
}

// translatorStep is a change the controller makes to a model.
type translatorStep struct {
	name string
	edit func(w *world)
	// want, when set, are the route configurations and clusters then served: the step
	// did what it says.
	want []string
}

// translatorSteps change realisticWorld one way after the other, covering every kind of
// change the controller makes.
func translatorSteps() []translatorStep {
	return []translatorStep{
		{"unchanged", func(*world) {}, nil},
		{"route of a root changed", func(w *world) {
			w.setProxy(fixture.Proxy(ns, "d").FQDN("d.example.com").TLS("other-cert").
				Route("grpc", 8080, fixture.Header(contourv1.HeaderMatchCondition{Name: "x-v", Exact: "2"})).Obj())
		}, nil},
		{"included proxy changed", func(w *world) {
			w.setProxy(fixture.Proxy(ns, "blog").Route("app", 80, fixture.Prefix("/articles")).Obj())
		}, nil},
		{"vhost rebuilt unchanged", func(w *world) { w.rebuild(w.fqdns()...) }, nil},
		{"vhost removed", func(w *world) { w.removeProxy(key("d")) }, nil},
		{"vhost added", func(w *world) {
			w.setProxy(fixture.Proxy(ns, "e").FQDN("e.example.com").TLS("cert").Route("app", 80).Obj())
		}, nil},
		{"endpoints refreshed", func(w *world) {
			port := []discoveryv1.EndpointPort{{Name: ptr(""), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}}
			w.in.EndpointSlices[key("app")] = []*discoveryv1.EndpointSlice{endpointSlice(ns, "app", "app-2", port, "10.0.3.1")}
			w.m.RefreshEndpoints(w.in, key("app"))
		}, nil},
		{"certificate changed in place", func(w *world) { w.data[key("cert")][KeyCertificate] = []byte("cert rotated") }, nil},
		{"certificate bytes changed in place", func(w *world) { w.data[key("cert")][KeyCertificate][0] = 'C' }, nil},
		{"certificate key removed: its vhosts leave HTTPS", func(w *world) { delete(w.data[key("cert")], KeyPrivateKey) },
			[]string{"ingress_http", "web/app/80/da39a3ee5e", "web/secure/443/06a8f1c17a"}},
		{"certificate key back", func(w *world) { w.data[key("cert")][KeyPrivateKey] = []byte("cert key") }, nil},
		{"client CA changed in place", func(w *world) { w.data[key("client-ca")][KeyCA] = []byte("client CA 2") }, nil},
		{"CRL removed: its vhost leaves HTTPS", func(w *world) { delete(w.data[key("client-crl")], KeyCRL) },
			[]string{"https/a.example.com", "https/e.example.com", "ingress_fallbackcert", "ingress_http", "web/app/80/da39a3ee5e", "web/secure/443/06a8f1c17a"}},
		{"CRL back", func(w *world) { w.data[key("client-crl")][KeyCRL] = []byte("client CRL 2") }, nil},
		{"upstream CA removed: its cluster is left out", func(w *world) { delete(w.data[key("upstream-ca")], KeyCA) },
			[]string{"https/a.example.com", "https/b.example.com", "https/e.example.com", "ingress_fallbackcert", "ingress_http", "web/app/80/da39a3ee5e"}},
		{"upstream CA back, changed", func(w *world) { w.data[key("upstream-ca")][KeyCA] = []byte("upstream CA 2") }, nil},
		{"fallback certificate data removed", func(w *world) { w.data[key("fallback")] = map[string][]byte{} },
			[]string{"https/a.example.com", "https/b.example.com", "https/e.example.com", "ingress_http", "web/app/80/da39a3ee5e", "web/secure/443/06a8f1c17a"}},
		{"fallback certificate data back", func(w *world) { w.data[key("fallback")] = tlsData("fallback") }, nil},
		{"fallback certificate off", func(w *world) { w.opts.FallbackCertificate = model.Key{}; w.rebuild(w.fqdns()...) },
			[]string{"https/b.example.com", "https/e.example.com", "ingress_http", "web/app/80/da39a3ee5e", "web/secure/443/06a8f1c17a"}},
		{"fallback certificate on", func(w *world) { w.opts.FallbackCertificate = key("fallback"); w.rebuild(w.fqdns()...) }, nil},
		{"every vhost removed", func(w *world) {
			for _, r := range slices.Clone(w.in.Roots) {
				w.removeProxy(model.KeyOf(r))
			}
		}, []string{"ingress_http"}},
		{"vhosts back", func(w *world) {
			for _, p := range realisticWorld().in.Roots {
				w.setProxy(p)
			}
		}, nil},
	}
}

// TestTranslatorMatchesTranslate applies, one after the other, the changes the
// controller makes to a model, and checks after each that a Translator used all along
// returns exactly what a fresh Translate does.
func TestTranslatorMatchesTranslate(t *testing.T) {
	steps := translatorSteps()
	options := map[string]Options{
		"default options": {},
		"other options":   {Address: "::", MinTLSVersion: "1.3", CipherSuites: []string{"ECDHE-RSA-AES256-GCM-SHA384"}},
	}
	for name, o := range options {
		t.Run(name, func(t *testing.T) {
			w := realisticWorld()
			tr := NewTranslator(o)
			for _, step := range steps {
				t.Run(step.name, func(t *testing.T) {
					step.edit(w)
					w.fill()
					r := translateBoth(t, tr, w.m, o)
					if step.want == nil {
						return
					}
					var got []string
					for _, typ := range []resource.Type{resource.RouteType, resource.ClusterType} {
						got = append(got, slices.Sorted(maps.Keys(r.Hashes[typ]))...)
					}
					if diff := cmp.Diff(step.want, got); diff != "" {
						t.Errorf("served (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// TestTranslatorReuses: after a route change in one vhost, every resource and part the
// change does not touch keeps its message and encoding (the same backing array): the
// Translator built, validated and marshalled nothing else.
func TestTranslatorReuses(t *testing.T) {
	in := benchInput(20)
	w := newWorld(in, model.Options{}, nil)
	fillBenchSecrets(w.m)
	tr := NewTranslator(Options{})
	before := translateBoth(t, tr, w.m, Options{})
	parts := map[string]*piece[*listenerv3.FilterChain]{}
	for _, e := range tr.prev.chains {
		parts[e.fqdn] = e.chain
	}
	insecure := map[string]*piece[*routev3.VirtualHost]{}
	for _, e := range tr.prev.vhosts {
		insecure[e.vh.FQDN] = e.insecure
	}

	const changed = "app-7.example.com"
	in.Add(benchChild("team-7", "child-0", "/api/v2"))
	w.m.Rebuild(in, model.Options{}, changed)
	fillBenchSecrets(w.m)
	after := translateBoth(t, tr, w.m, Options{})

	want := map[resource.Type][]string{resource.RouteType: {HTTPSRouteConfigName(changed), HTTPRouteConfigName}}
	got := map[resource.Type][]string{}
	for typ, encoded := range after.Encoded {
		for name, b := range encoded {
			if old := before.Encoded[typ][name]; !sameBytes(old, b) {
				got[typ] = append(got[typ], name)
			}
		}
		slices.Sort(got[typ])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("re-encoded resources (-want +got):\n%s", diff)
	}
	// A publisher compares only the types Same does not vouch for.
	for _, typ := range []resource.Type{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType} {
		if got, unchanged := after.Same(before, typ), len(want[typ]) == 0; got != unchanged {
			t.Errorf("Same(%s) = %v, want %v", typ, got, unchanged)
		}
	}
	if after.Same(nil, resource.ClusterType) {
		t.Errorf("Same(nil) = true, want false: nothing was published before")
	}
	if !sameBytes(after.Encoded[resource.ListenerType][HTTPSListenerName], before.Encoded[resource.ListenerType][HTTPSListenerName]) {
		t.Errorf("ingress_https was rebuilt, though its filter chains did not change")
	}
	if !maps.EqualFunc(after.Hashes[resource.ClusterType], before.Hashes[resource.ClusterType], func(a, b string) bool { return a == b }) {
		t.Errorf("cluster hashes changed")
	}
	for _, e := range tr.prev.chains {
		if parts[e.fqdn] != e.chain {
			t.Errorf("filter chain %s rebuilt", e.fqdn)
		}
	}
	for _, e := range tr.prev.vhosts {
		if (insecure[e.vh.FQDN] != e.insecure) != (e.vh.FQDN == changed) {
			t.Errorf("virtual host %s: rebuilt %v", e.vh.FQDN, insecure[e.vh.FQDN] != e.insecure)
		}
		// Kept parts share the new assembly's bytes: the old one can be collected.
		if !aliases(after.Encoded[resource.RouteType][HTTPRouteConfigName], e.insecure.enc) {
			t.Errorf("virtual host %s: its encoding is not ingress_http's", e.vh.FQDN)
		}
		if !aliases(after.Encoded[resource.RouteType][HTTPSRouteConfigName(e.vh.FQDN)], e.secure.enc) {
			t.Errorf("virtual host %s: its secure encoding is not https/%[1]s's", e.vh.FQDN)
		}
	}
	for _, e := range tr.prev.chains {
		if !aliases(after.Encoded[resource.ListenerType][HTTPSListenerName], e.chain.enc) {
			t.Errorf("filter chain %s: its encoding is not ingress_https's", e.fqdn)
		}
	}
}

// TestTranslatorUnsortedModel: a model whose lists are not sorted is translated as
// Translate does, by a Translator's first call, by the next, which reuses pieces it
// sorted (and no longer has their messages), and by one back on the sorted model.
func TestTranslatorUnsortedModel(t *testing.T) {
	w := realisticWorld()
	unsorted := *w.m
	unsorted.VirtualHosts = reversed(w.m.VirtualHosts)
	unsorted.Clusters = reversed(w.m.Clusters)
	unsorted.Endpoints = reversed(w.m.Endpoints)
	unsorted.Secrets = reversed(w.m.Secrets)
	tr := NewTranslator(Options{})
	for _, m := range []*model.Model{&unsorted, &unsorted, w.m} {
		translateBoth(t, tr, m, Options{})
	}
}

func reversed[E any](s []E) []E {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
