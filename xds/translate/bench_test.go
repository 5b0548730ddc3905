package translate

import (
	"fmt"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy/fixture"
)

const (
	benchRoots           = 2000
	benchChildrenPerRoot = 4
)

// benchModel is the model of controller/model's benchmark world: 10,000 HTTPProxies, 2,000
// TLS roots each including 4 children (one namespace per root) under their own prefix;
// each child has 2 routes (one with a header condition) to its own Service, which has an
// EndpointSlice of 3 endpoints. Every certificate has data.
func benchModel(tb testing.TB) *model.Model {
	tb.Helper()
	in := model.Input{
		Proxies:        map[model.Key]*contourv1.HTTPProxy{},
		Services:       map[model.Key]*corev1.Service{},
		EndpointSlices: map[model.Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New[model.Key](),
	}
	for r := range benchRoots {
		ns := fmt.Sprintf("team-%d", r)
		root := fixture.Proxy(ns, "root").FQDN(fmt.Sprintf("app-%d.example.com", r)).TLS("cert")
		in.Secrets.Insert(model.Key{Namespace: ns, Name: "cert"})
		for c := range benchChildrenPerRoot {
			name := fmt.Sprintf("child-%d", c)
			root.Include(ns, name, fixture.Prefix("/"+name))
			child := fixture.Proxy(ns, name).
				Route(name, 80, fixture.Prefix("/api")).
				Route(name, 80, fixture.Prefix("/"), fixture.Header(contourv1.HeaderMatchCondition{Name: "x-canary", Present: true})).
				Obj()
			in.Proxies[model.KeyOf(child)] = child
			svc := fixture.Service(ns, name, 80)
			in.Services[model.KeyOf(svc)] = svc
			in.EndpointSlices[model.KeyOf(svc)] = []*discoveryv1.EndpointSlice{
				endpointSlice(ns, name, name+"-abcde", []discoveryv1.EndpointPort{{Name: ptr(""), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
					"10.0.0.1", "10.0.0.2", "10.0.0.3"),
			}
		}
		obj := root.Obj()
		in.Proxies[model.KeyOf(obj)] = obj
		in.Roots = append(in.Roots, obj)
	}
	m := model.Build(in, model.Options{})
	if len(m.VirtualHosts) != benchRoots {
		tb.Fatalf("%d vhosts, want %d", len(m.VirtualHosts), benchRoots)
	}
	for _, s := range m.Secrets {
		s.Data = map[string][]byte{
			KeyCertificate: []byte("-----BEGIN CERTIFICATE-----\n" + s.Name.String() + "\n-----END CERTIFICATE-----\n"),
			KeyPrivateKey:  []byte("-----BEGIN PRIVATE KEY-----\n" + s.Name.String() + "\n-----END PRIVATE KEY-----\n"),
		}
	}
	return m
}

// endpointSlice is a slice of a Service with ready endpoints.
func endpointSlice(ns, service, name string, ports []discoveryv1.EndpointPort, addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
	}
	return s
}

// BenchmarkTranslate translates the 10,000-proxy model (target: under 1 s): 2 listeners
// (2,000 filter chains), 2,001 route configurations, 8,000 clusters and assignments,
// 2,000 secrets, all validated and hashed.
func BenchmarkTranslate(b *testing.B) {
	m := benchModel(b)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Translate(m, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Routes) != benchRoots+1 || len(r.Clusters) != benchRoots*benchChildrenPerRoot {
			b.Fatalf("%d route configurations and %d clusters", len(r.Routes), len(r.Clusters))
		}
	}
}

// TestBenchModel checks the benchmark's output like any other.
func TestBenchModel(t *testing.T) {
	if testing.Short() {
		t.Skip("translates 10,000 proxies")
	}
	r, err := Translate(benchModel(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkResources(t, r)
	if got := len(r.Listeners[1].FilterChains); got != benchRoots {
		t.Errorf("%d HTTPS filter chains, want %d", got, benchRoots)
	}
}
