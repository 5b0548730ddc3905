package model

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/projectwarden/warden/policy/fixture"
)

// changeInput is a small world in which one change at a time is made:
//
//	one.example.com  a/r1 → b/c1 (/c) ; a loser a/r4 claims it too
//	two.example.com  a/r2 → b/c1 (/c), b/c2 (/missing, absent)
//	three.example.com a/r3 (TLS secret a/cert, absent)
func changeInput() Input {
	in := Input{
		Proxies:        map[Key]*contourv1.HTTPProxy{},
		Services:       map[Key]*corev1.Service{},
		EndpointSlices: map[Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New[Key](),
	}
	for _, p := range []*contourv1.HTTPProxy{
		fixture.Proxy("a", "r1").Created(1).FQDN("one.example.com").Include("b", "c1", fixture.Prefix("/c")).Route("web", 80).Obj(),
		fixture.Proxy("a", "r2").Created(2).FQDN("two.example.com").Include("b", "c1", fixture.Prefix("/c")).
			Include("b", "c2", fixture.Prefix("/missing")).Obj(),
		fixture.Proxy("a", "r3").Created(3).FQDN("three.example.com").TLS("cert").Route("web", 80).Obj(),
		fixture.Proxy("a", "r4").Created(4).FQDN("one.example.com").Route("web", 80).Obj(),
		fixture.Proxy("b", "c1").Route("s1", 80).Obj(),
	} {
		in.Proxies[KeyOf(p)] = p
		if p.Spec.VirtualHost != nil {
			in.Roots = append(in.Roots, p)
		}
	}
	for _, s := range []*corev1.Service{fixture.Service("a", "web", 80), fixture.Service("b", "s1", 80)} {
		in.Services[KeyOf(s)] = s
	}
	in.EndpointSlices[Key{"b", "s1"}] = []*discoveryv1.EndpointSlice{endpointSlice("b", "s1", "s1-1", 8080, "10.0.0.1")}
	return in
}

// endpointSlice is a ready IPv4 EndpointSlice of service with one unnamed port.
func endpointSlice(ns, service, name string, port int32, addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo(""), Port: ptrTo(port), Protocol: ptrTo(corev1.ProtocolTCP)}},
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)}})
	}
	return s
}

// change says which objects a mutation touched, as the controller's informers would.
type change struct {
	proxies, services, secrets, slices []Key
}

func setProxy(in *Input, p *contourv1.HTTPProxy) {
	in.Proxies[KeyOf(p)] = p
	var roots []*contourv1.HTTPProxy
	for _, r := range in.Roots {
		if KeyOf(r) != KeyOf(p) {
			roots = append(roots, r)
		}
	}
	if p.Spec.VirtualHost != nil {
		roots = append(roots, p)
	}
	in.Roots = roots
}

func deleteProxy(in *Input, k Key) {
	delete(in.Proxies, k)
	var roots []*contourv1.HTTPProxy
	for _, r := range in.Roots {
		if KeyOf(r) != k {
			roots = append(roots, r)
		}
	}
	in.Roots = roots
}

// TestRebuildAfterChange applies one change to a built model the way the controller
// will: the fqdns Index names for the touched objects (plus a changed root's new fqdn)
// are rebuilt, and EndpointSlice changes refresh endpoints only. The result must equal a
// full Build of the changed input.
func TestRebuildAfterChange(t *testing.T) {
	cases := map[string]struct {
		mutate func(in *Input) change
	}{
		"a route added to a child shared by two roots rebuilds both": {func(in *Input) change {
			setProxy(in, fixture.Proxy("b", "c1").Route("s1", 80).Route("s1", 80, fixture.Prefix("/new")).Obj())
			return change{proxies: []Key{{"b", "c1"}}}
		}},
		"a missing include target created replaces the 502": {func(in *Input) change {
			setProxy(in, fixture.Proxy("b", "c2").Route("s1", 80).Obj())
			return change{proxies: []Key{{"b", "c2"}}}
		}},
		"a deleted Service turns its routes into 503s": {func(in *Input) change {
			delete(in.Services, Key{"b", "s1"})
			return change{services: []Key{{"b", "s1"}}}
		}},
		"a renamed Service port renames the EDS name": {func(in *Input) change {
			s := fixture.Service("b", "s1", 80)
			s.Spec.Ports[0].Name = "http"
			in.Services[KeyOf(s)] = s
			return change{services: []Key{{"b", "s1"}}}
		}},
		"a created TLS secret serves its vhost": {func(in *Input) change {
			in.Secrets.Insert(Key{"a", "cert"})
			return change{secrets: []Key{{"a", "cert"}}}
		}},
		"a root's fqdn change moves its vhost": {func(in *Input) change {
			setProxy(in, fixture.Proxy("a", "r2").Created(2).FQDN("deux.example.com").Include("b", "c1", fixture.Prefix("/c")).Obj())
			return change{proxies: []Key{{"a", "r2"}}}
		}},
		"a deleted root removes its vhost": {func(in *Input) change {
			deleteProxy(in, Key{"a", "r2"})
			return change{proxies: []Key{{"a", "r2"}}}
		}},
		"a deleted fqdn owner hands the vhost to the next claimant": {func(in *Input) change {
			deleteProxy(in, Key{"a", "r1"})
			return change{proxies: []Key{{"a", "r1"}}}
		}},
		"an EndpointSlice change refreshes endpoints only": {func(in *Input) change {
			in.EndpointSlices[Key{"b", "s1"}] = []*discoveryv1.EndpointSlice{endpointSlice("b", "s1", "s1-1", 8080, "10.0.0.2", "10.0.0.3")}
			return change{slices: []Key{{"b", "s1"}}}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := changeInput()
			m := Build(in, Options{})
			before := render(t, m)
			ch := tc.mutate(&in)
			m.Rebuild(in, Options{}, affectedFQDNs(m, in, ch)...)
			m.RefreshEndpoints(in, ch.slices...)
			want := render(t, Build(in, Options{}))
			if want == before {
				t.Fatal("the change does not change the model: the case tests nothing")
			}
			if diff := cmp.Diff(want, render(t, m)); diff != "" {
				t.Errorf("incremental (-Build +Rebuild):\n%s", diff)
			}
			checkInvariants(t, m)
		})
	}
}

// affectedFQDNs is what the controller computes from Index for a change.
func affectedFQDNs(m *Model, in Input, ch change) []string {
	var out []string
	for _, k := range ch.proxies {
		out = append(out, m.Index.ProxyToFQDNs[k]...)
		if p := in.Proxies[k]; p != nil && p.Spec.VirtualHost != nil {
			out = append(out, rootFQDN(p))
		}
	}
	for _, k := range ch.services {
		out = append(out, m.Index.ServiceToFQDNs[k]...)
	}
	for _, k := range ch.secrets {
		out = append(out, m.Index.SecretToFQDNs[k]...)
	}
	return sortedUnique(out)
}

func TestReplaceRejectsAPartOfAnotherFQDN(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || fmt.Sprint(r) != `model: Replace("a.example.com") given the part of "b.example.com"` {
			t.Errorf("recover() = %v, want the mismatch reported", r)
		}
	}()
	(&Model{}).Replace("a.example.com", &Part{FQDN: "b.example.com"})
}

func ptrTo[T any](v T) *T { return &v }
