package translate

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy/fixture"
)

// FuzzTranslate builds models of small random worlds with model.Build (TLS and plain
// vhosts, includes, every route action and policy Translate handles, upstream protocols
// and validation, endpoints ready or terminating, secrets with and without data) and checks
// that Translate neither panics nor fails, that everything it returns passes
// checkResources (ValidateAll at every depth, references resolved, a consistent snapshot,
// no deprecated field), and that it is deterministic.
func FuzzTranslate(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		[]byte("tls vhosts with client validation, mirrors and upstream CAs"),
		{255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244, 243, 242, 241, 240, 239},
		{5, 3, 2, 1, 3, 0, 2, 1, 7, 4, 1, 1, 1, 6, 2, 5, 3, 3, 0, 0, 9, 8, 7, 2, 1, 4, 4},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &fuzzBytes{data: data}
		in, mopts, secretData := fuzzWorld(b)
		opts := fuzzOptions(b)
		m := model.Build(in, mopts)
		for _, s := range m.Secrets {
			s.Data = secretData[s.Name]
		}
		r, err := Translate(m, opts)
		if err != nil {
			t.Fatalf("Translate: %v", err)
		}
		checkResources(t, r)
		again, err := Translate(m, opts)
		if err != nil {
			t.Fatalf("Translate again: %v", err)
		}
		if diff := cmp.Diff(r.Hashes, again.Hashes); diff != "" {
			t.Fatalf("Translate is not deterministic (-first +second):\n%s", diff)
		}
		if got, want := render(t, again), render(t, r); got != want {
			t.Fatalf("Translate is not deterministic:\n%s", cmp.Diff(want, got))
		}
	})
}

// fuzzBytes hands out the fuzzer's bytes, then zeros.
type fuzzBytes struct {
	data []byte
	i    int
}

func (b *fuzzBytes) next() int {
	if b.i >= len(b.data) {
		return 0
	}
	b.i++
	return int(b.data[b.i-1])
}

func (b *fuzzBytes) chance(n int) bool { return b.next()%n == 0 }

func pick[T any](b *fuzzBytes, from ...T) T { return from[b.next()%len(from)] }

func ptr[T any](v T) *T { return &v }

const fuzzNS = "ns"

// fuzzWorld is up to 4 roots and 2 children in one namespace, two Services (one with an
// h2c port and a TLS annotation), their slices, and secrets whose data may be incomplete.
func fuzzWorld(b *fuzzBytes) (model.Input, model.Options, map[model.Key]map[string][]byte) {
	in := model.Input{
		Proxies:        map[model.Key]*contourv1.HTTPProxy{},
		Services:       map[model.Key]*corev1.Service{},
		EndpointSlices: map[model.Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New[model.Key](),
	}
	data := map[model.Key]map[string][]byte{}
	for _, name := range []string{"cert", "other-cert", "ca", "crl", "fallback"} {
		if b.chance(5) {
			continue // the Secret does not exist
		}
		k := model.Key{Namespace: fuzzNS, Name: name}
		in.Secrets.Insert(k)
		d := map[string][]byte{}
		for _, key := range []string{KeyCertificate, KeyPrivateKey, KeyCA, KeyCRL} {
			if !b.chance(6) {
				d[key] = []byte(name + " " + key)
			}
		}
		data[k] = d
	}

	roots := 1 + b.next()%4
	children := b.next() % 3
	for i := range roots {
		in.Add(fuzzRoot(b, fmt.Sprintf("root%d", i), children))
	}
	for c := range children {
		in.Add(fuzzChild(b, fmt.Sprintf("child%d", c)))
	}

	web := fixture.Service(fuzzNS, "web", 80, 443)
	web.Spec.Ports[0].Name = "http"
	web.Spec.Ports[1].Name = "https"
	web.Annotations = map[string]string{"projectcontour.io/upstream-protocol.tls": "https"}
	grpc := fixture.Service(fuzzNS, "grpc", 8080)
	grpc.Spec.Ports[0].AppProtocol = ptr("kubernetes.io/h2c")
	for _, s := range []*corev1.Service{web, grpc} {
		in.Services[model.KeyOf(s)] = s
		in.EndpointSlices[model.KeyOf(s)] = []*discoveryv1.EndpointSlice{fuzzSlice(b, s)}
	}

	var mopts model.Options
	if b.chance(2) {
		mopts.FallbackCertificate = model.Key{Namespace: fuzzNS, Name: "fallback"}
	}
	mopts.DisablePermitInsecure = b.chance(4)
	return in, mopts, data
}

// fuzzRoot is a root for one of five fqdns, TLS or not, including some of the children
// child0…child<children-1>, with up to 3 routes.
func fuzzRoot(b *fuzzBytes, name string, children int) *contourv1.HTTPProxy {
	p := fixture.Proxy(fuzzNS, name).
		FQDN(pick(b, "a.example.com", "b.example.com", "*.example.com", "c.example.com", "d.example.com"))
	if !b.chance(3) {
		p.TLSWith(func(tls *contourv1.TLS) { fuzzTLS(b, tls) })
	}
	for c := range children {
		if b.chance(2) {
			p.Include(fuzzNS, fmt.Sprintf("child%d", c), fixture.Prefix(fmt.Sprintf("/c%d", c)))
		}
	}
	for range 1 + b.next()%3 {
		p.RouteWith(func(r *contourv1.Route) { fuzzRoute(b, r) })
	}
	return p.Obj()
}

// fuzzChild is an included proxy with up to 3 routes.
func fuzzChild(b *fuzzBytes, name string) *contourv1.HTTPProxy {
	p := fixture.Proxy(fuzzNS, name)
	for range 1 + b.next()%3 {
		p.RouteWith(func(r *contourv1.Route) { fuzzRoute(b, r) })
	}
	return p.Obj()
}

func fuzzTLS(b *fuzzBytes, tls *contourv1.TLS) {
	tls.SecretName = pick(b, "cert", "cert", "other-cert", "ns/cert", "missing")
	tls.MinimumProtocolVersion = pick(b, "", "1.2", "1.3")
	tls.MaximumProtocolVersion = pick(b, "", "1.2", "1.3")
	tls.EnableFallbackCertificate = b.chance(3)
	if b.chance(2) {
		cv := &contourv1.DownstreamValidation{
			SkipClientCertValidation:  b.chance(3),
			OptionalClientCertificate: b.chance(2),
		}
		if !cv.SkipClientCertValidation || b.chance(2) {
			cv.CACertificate = "ca"
		}
		if cv.CACertificate != "" && b.chance(2) {
			cv.CertificateRevocationList, cv.OnlyVerifyLeafCertCrl = "crl", b.chance(2)
		}
		if b.chance(2) {
			cv.ForwardClientCertificate = &contourv1.ClientCertificateDetails{
				Subject: b.chance(2), Cert: b.chance(2), Chain: b.chance(2), DNS: b.chance(2), URI: b.chance(2),
			}
		}
		tls.ClientValidation = cv
	}
}

func fuzzRoute(b *fuzzBytes, r *contourv1.Route) {
	r.Conditions = fuzzConditions(b)
	r.PermitInsecure = b.chance(2)
	switch b.next() % 6 {
	case 0:
		r.DirectResponsePolicy = &contourv1.HTTPDirectResponsePolicy{StatusCode: pick(b, 200, 404, 418, 503), Body: pick(b, "", "nope")}
		return
	case 1:
		rp := &contourv1.HTTPRequestRedirectPolicy{Scheme: pick(b, nil, ptr("https")), Hostname: pick(b, nil, ptr("x.example.com"))}
		rp.Port = pick(b, nil, ptr(int32(8443)))
		rp.StatusCode = pick(b, nil, ptr(contourv1.RedirectResponseCode(301)), ptr(contourv1.RedirectResponseCode(302)))
		if b.chance(2) {
			rp.Path = ptr("/p")
		} else if b.chance(2) {
			rp.Prefix = ptr("/q")
		}
		r.RequestRedirectPolicy = rp
		return
	}
	for range 1 + b.next()%3 {
		s := contourv1.Service{
			Name:   pick(b, "web", "web", "grpc", "missing"),
			Weight: int64(pick(b, 0, 0, 1, 50)),
			Mirror: b.chance(5),
		}
		switch s.Name {
		case "web":
			s.Port = pick(b, 80, 443)
		default:
			s.Port = 8080
		}
		if b.chance(4) {
			s.Protocol = ptr(pick(b, "h2", "h2c", "tls"))
		}
		if b.chance(3) {
			s.UpstreamValidation = &contourv1.UpstreamValidation{CACertificate: pick(b, "ca", "ns/ca", "missing"), SubjectName: "backend.internal"}
		}
		r.Services = append(r.Services, s)
	}
	fuzzPolicies(b, r)
}

func fuzzPolicies(b *fuzzBytes, r *contourv1.Route) {
	r.EnableWebsockets = b.chance(4)
	if b.chance(3) {
		r.TimeoutPolicy = &contourv1.TimeoutPolicy{Response: pick(b, "", "1s", "0s", "infinity"), Idle: pick(b, "", "5m", "infinity")}
	}
	if b.chance(3) {
		r.RetryPolicy = &contourv1.RetryPolicy{
			NumRetries:    int64(pick(b, -1, 0, 3)),
			PerTryTimeout: pick(b, "", "150ms"),
			RetryOn:       pick(b, nil, []contourv1.RetryOn{"5xx", "retriable-status-codes"}),
		}
		if len(r.RetryPolicy.RetryOn) > 0 {
			r.RetryPolicy.RetriableStatusCodes = []uint32{503}
		}
	}
	if b.chance(3) {
		r.PathRewritePolicy = &contourv1.PathRewritePolicy{ReplacePrefix: []contourv1.ReplacePrefix{{Replacement: pick(b, "/", "/new/")}}}
	}
	if b.chance(3) {
		lb := &contourv1.LoadBalancerPolicy{Strategy: pick(b, "RoundRobin", "Random", "WeightedLeastRequest", "Cookie", "RequestHash")}
		if lb.Strategy == "RequestHash" {
			lb.RequestHashPolicies = []contourv1.RequestHashPolicy{
				{HeaderHashOptions: &contourv1.HeaderHashOptions{HeaderName: "x-user"}},
				{QueryParameterHashOptions: &contourv1.QueryParameterHashOptions{ParameterName: "s"}, Terminal: b.chance(2)},
				{HashSourceIP: true},
			}[:1+b.next()%3]
		}
		r.LoadBalancerPolicy = lb
	}
	if b.chance(4) {
		r.HealthCheckPolicy = &contourv1.HTTPHealthCheckPolicy{
			Path: "/healthz", Host: pick(b, "", "probe"), IntervalSeconds: int64(b.next() % 3), TimeoutSeconds: int64(b.next() % 3),
			UnhealthyThresholdCount: int64(b.next() % 3), HealthyThresholdCount: int64(b.next() % 3),
			ExpectedStatuses: pick(b, nil, []contourv1.HTTPStatusRange{{Start: 200, End: 300}}),
		}
	}
	if b.chance(3) {
		r.RequestHeadersPolicy = &contourv1.HeadersPolicy{
			Set: []contourv1.HeaderValue{
				{Name: "x-a", Value: pick(b, "1", "50%", "%HOSTNAME%", "%REQ(x-b)%", "%ENV(X)%")},
				{Name: "host", Value: pick(b, "backend.internal", "%REQ(x-host)%")},
			}[:1+b.next()%2],
			Remove: pick(b, nil, []string{"x-debug"}),
		}
	}
	if b.chance(3) {
		r.ResponseHeadersPolicy = &contourv1.HeadersPolicy{
			Set:    []contourv1.HeaderValue{{Name: "x-c", Value: pick(b, "v", "100%")}},
			Remove: pick(b, nil, []string{"server"}),
		}
	}
}

func fuzzConditions(b *fuzzBytes) []contourv1.MatchCondition {
	var out []contourv1.MatchCondition
	switch b.next() % 4 {
	case 1:
		out = append(out, fixture.Prefix(pick(b, "/", "/a", "/a/")))
	case 2:
		out = append(out, fixture.Exact(pick(b, "/x", "/a/x")))
	case 3:
		out = append(out, fixture.Regex(pick(b, "/r.*", "/[0-9]+")))
	}
	for range b.next() % 3 {
		h := contourv1.HeaderMatchCondition{Name: pick(b, "x-a", "x-b")}
		switch b.next() % 6 {
		case 0:
			h.Present = true
		case 1:
			h.NotPresent = true
		case 2:
			h.Exact, h.IgnoreCase = "1", b.chance(2)
		case 3:
			h.NotContains = "bot"
		case 4:
			h.Contains = "v"
		default:
			h.Regex = "^v[0-9]"
		}
		out = append(out, fixture.Header(h))
	}
	if b.chance(3) {
		q := contourv1.QueryParameterMatchCondition{Name: "q"}
		switch b.next() % 6 {
		case 0:
			q.Present = true
		case 1:
			q.Exact = "1"
		case 2:
			q.Prefix = "p"
		case 3:
			q.Suffix = "s"
		case 4:
			q.Contains = "c"
		default:
			q.Regex = "[a-z]+"
		}
		q.IgnoreCase = q.Regex == "" && !q.Present && b.chance(2)
		out = append(out, fixture.Query(q))
	}
	return out
}

// fuzzOptions varies the listener and TLS options.
func fuzzOptions(b *fuzzBytes) Options {
	return Options{
		Address:               pick(b, "", "::", "127.0.0.1"),
		HTTPPort:              pick(b, uint32(0), 80),
		HTTPSPort:             pick(b, uint32(0), 443),
		MinTLSVersion:         pick(b, "", "1.2", "1.3", "1.0"),
		MaxTLSVersion:         pick(b, "", "1.2", "1.3"),
		CipherSuites:          pick(b, nil, []string{"ECDHE-RSA-AES256-GCM-SHA384"}),
		UpstreamMinTLSVersion: pick(b, "", "1.3"),
		UpstreamMaxTLSVersion: pick(b, "", "1.2"),
	}
}

// fuzzSlice is a slice of the Service's ports with up to 4 endpoints, ready, terminating
// or gone.
func fuzzSlice(b *fuzzBytes, s *corev1.Service) *discoveryv1.EndpointSlice {
	es := endpointSlice(s.Namespace, s.Name, s.Name+"-a", nil)
	for _, p := range s.Spec.Ports {
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr(p.Name), Port: ptr(p.Port + 8000), Protocol: ptr(corev1.ProtocolTCP)})
	}
	for i := range b.next() % 5 {
		ep := discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}}
		switch b.next() % 3 {
		case 1:
			ep.Conditions = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}
		case 2:
			ep.Conditions = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false)}
		}
		es.Endpoints = append(es.Endpoints, ep)
	}
	return es
}
