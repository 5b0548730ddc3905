package model

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/projectwarden/warden/policy/fixture"
)

// FuzzBuild builds models of small random include graphs (cycles, missing and root
// targets, valid and invalid conditions, missing services and secrets) and checks that
// Build does not panic, keeps its invariants, gives the same model for the same input in
// another order, and that building vhost by vhost gives the same model.
func FuzzBuild(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{5, 2, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{3, 3, 1, 0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 3, 7, 1, 9, 2},
		[]byte("include cycles and conflicting headers"),
		{255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244, 243, 242, 241, 240},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, opts := fuzzInput(&fuzzBytes{data: data})
		m := Build(in, opts)
		checkInvariants(t, m)
		want := render(t, m)

		if got := render(t, Build(in, opts)); got != want {
			t.Fatalf("Build is not deterministic:\n%s", cmp.Diff(want, got))
		}
		in.Roots = slices.Clone(in.Roots)
		slices.Reverse(in.Roots)
		if got := render(t, Build(in, opts)); got != want {
			t.Fatalf("Build depends on the order of roots:\n%s", cmp.Diff(want, got))
		}
		fqdns := allFQDNs(in.Roots)
		slices.Reverse(fqdns)
		inc := &Model{}
		inc.Rebuild(in, opts, fqdns...)
		if got := render(t, inc); got != want {
			t.Fatalf("vhost by vhost differs from Build:\n%s", cmp.Diff(want, got))
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

func pick[T any](b *fuzzBytes, from ...T) T { return from[b.next()%len(from)] }

var fuzzNamespaces = []string{"ns0", "ns1"}

// fuzzInput turns bytes into up to 6 proxies (the first ones roots) in two namespaces,
// with includes among them (and to absent ones), routes, Services, slices and a secret.
func fuzzInput(b *fuzzBytes) (Input, Options) {
	in := Input{
		Proxies:        map[Key]*contourv1.HTTPProxy{},
		Services:       map[Key]*corev1.Service{},
		EndpointSlices: map[Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New(Key{"ns0", "cert"}),
	}
	n := 1 + b.next()%6
	roots := 1 + b.next()%min(3, n)
	for i := range n {
		p := fixture.Proxy(pick(b, fuzzNamespaces...), fmt.Sprintf("p%d", i)).Created(b.next() % 3)
		if i < roots {
			p.FQDN(pick(b, "a.example.com", "b.example.com", "*.example.com", "A.example.com"))
			if s := pick(b, "", "", "cert", "ns0/cert", "missing"); s != "" {
				p.TLS(s)
			}
		}
		for range b.next() % 3 {
			p.Include(pick(b, "", "ns0", "ns1"), fmt.Sprintf("p%d", b.next()%(n+1)), fuzzConditions(b, true)...)
		}
		for range b.next() % 4 {
			p.RouteWith(func(r *contourv1.Route) { fuzzRoute(b, r) })
		}
		obj := p.Obj()
		in.Proxies[KeyOf(obj)] = obj
		if i < roots {
			in.Roots = append(in.Roots, obj)
		}
	}
	for _, ns := range fuzzNamespaces {
		s := fixture.Service(ns, "s0", 80, 8080)
		s.Spec.Ports[0].Name = pick(b, "", "http")
		in.Services[KeyOf(s)] = s
		in.EndpointSlices[KeyOf(s)] = []*discoveryv1.EndpointSlice{
			endpointSlice(ns, "s0", "s0-a", int32(8000+b.next()%3), "10.0.0.1", "10.0.0.2"),
			endpointSlice(ns, "s0", "s0-b", 8000, "10.0.0.2"),
		}
	}
	return in, Options{DisablePermitInsecure: b.next()%4 == 0}
}

func fuzzConditions(b *fuzzBytes, include bool) []contourv1.MatchCondition {
	var out []contourv1.MatchCondition
	for range b.next() % 4 {
		var c contourv1.MatchCondition
		switch b.next() % 6 {
		case 0, 1:
			c.Prefix = pick(b, "/", "/a", "/a/", "//b", "c", "/a.b")
		case 2:
			if include && b.next()%2 == 0 {
				continue
			}
			c.Exact = pick(b, "/x", "/a/x", "x")
		case 3:
			if include && b.next()%2 == 0 {
				continue
			}
			c.Regex = pick(b, "/r.*", "/(", "/a|/b", "/[0-9]+")
		case 4:
			h := contourv1.HeaderMatchCondition{Name: pick(b, "x-a", "X-A", "x-b")}
			switch b.next() % 5 {
			case 0:
				h.Present = true
			case 1:
				h.NotPresent = true
			case 2:
				h.Exact = pick(b, "1", "2")
			case 3:
				h.NotExact = pick(b, "1", "2")
			default:
				h.Regex = pick(b, "^v", "(")
			}
			c.Header = &h
		default:
			q := contourv1.QueryParameterMatchCondition{Name: pick(b, "q", "Q")}
			switch b.next() % 3 {
			case 0:
				q.Exact = "1"
			case 1:
				q.Present, q.Prefix = true, pick(b, "", "p")
			}
			c.QueryParameter = &q
		}
		out = append(out, c)
	}
	return out
}

func fuzzRoute(b *fuzzBytes, r *contourv1.Route) {
	r.Conditions = fuzzConditions(b, false)
	r.PermitInsecure = b.next()%2 == 0
	switch b.next() % 8 {
	case 0:
		r.DirectResponsePolicy = &contourv1.HTTPDirectResponsePolicy{StatusCode: 418}
	case 1:
		r.RequestRedirectPolicy = &contourv1.HTTPRequestRedirectPolicy{Prefix: pick(b, nil, ptrTo("/r"))}
	}
	for range b.next() % 3 {
		r.Services = append(r.Services, contourv1.Service{
			Name:   pick(b, "s0", "s0", "missing"),
			Port:   pick(b, 80, 8080, 0, 9999),
			Weight: int64(pick(b, 0, 0, 1, 50)),
			Mirror: b.next()%5 == 0,
		})
	}
	if b.next()%3 == 0 {
		r.PathRewritePolicy = &contourv1.PathRewritePolicy{ReplacePrefix: []contourv1.ReplacePrefix{{Replacement: pick(b, "/", "/new/")}}}
	}
	if b.next()%3 == 0 {
		r.TimeoutPolicy = &contourv1.TimeoutPolicy{Response: pick(b, "", "1s", "infinity", "bad")}
	}
	if b.next()%3 == 0 {
		r.LoadBalancerPolicy = &contourv1.LoadBalancerPolicy{Strategy: pick(b, "Random", "Cookie", "RequestHash")}
	}
}
