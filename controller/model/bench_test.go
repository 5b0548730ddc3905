package model

import (
	"fmt"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/projectwarden/warden/policy/fixture"
)

const (
	benchRoots           = 2000
	benchChildrenPerRoot = 4
)

// benchInput is 10,000 HTTPProxies: 2,000 TLS roots, each including 4 children (one
// namespace per root) under their own prefix; each child has 2 routes (one with a header
// condition) to its own Service, which has an EndpointSlice of 3 endpoints.
func benchInput() Input {
	in := Input{
		Proxies:        map[Key]*contourv1.HTTPProxy{},
		Services:       map[Key]*corev1.Service{},
		EndpointSlices: map[Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New[Key](),
	}
	for r := range benchRoots {
		ns := fmt.Sprintf("team-%d", r)
		root := fixture.Proxy(ns, "root").FQDN(fmt.Sprintf("app-%d.example.com", r)).TLS("cert")
		in.Secrets.Insert(Key{ns, "cert"})
		for c := range benchChildrenPerRoot {
			name := fmt.Sprintf("child-%d", c)
			root.Include(ns, name, fixture.Prefix("/"+name))
			child := fixture.Proxy(ns, name).
				Route(name, 80, fixture.Prefix("/api")).
				Route(name, 80, fixture.Prefix("/"), fixture.Header(contourv1.HeaderMatchCondition{Name: "x-canary", Present: true})).
				Obj()
			in.Proxies[KeyOf(child)] = child
			svc := fixture.Service(ns, name, 80)
			in.Services[KeyOf(svc)] = svc
			in.EndpointSlices[KeyOf(svc)] = []*discoveryv1.EndpointSlice{
				endpointSlice(ns, name, name+"-abcde", 8080, "10.0.0.1", "10.0.0.2", "10.0.0.3"),
			}
		}
		obj := root.Obj()
		in.Proxies[KeyOf(obj)] = obj
		in.Roots = append(in.Roots, obj)
	}
	return in
}

// BenchmarkBuild is a full build of the 10,000-proxy world (target: under 1 s).
func BenchmarkBuild(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		m := Build(in, Options{})
		if len(m.VirtualHosts) != benchRoots {
			b.Fatalf("%d vhosts, want %d", len(m.VirtualHosts), benchRoots)
		}
	}
}

// BenchmarkBuildVirtualHost rebuilds one root's tree in that world (target: under 5 ms).
func BenchmarkBuildVirtualHost(b *testing.B) {
	in := benchInput()
	root := in.Roots[benchRoots/2]
	b.ReportAllocs()
	for b.Loop() {
		if p := BuildVirtualHost(root, in, Options{}); p.VirtualHost == nil {
			b.Fatal("vhost not built")
		}
	}
}

// BenchmarkRebuildOneVirtualHost is what one change costs the controller: rebuilding a
// vhost and swapping it into the full model.
func BenchmarkRebuildOneVirtualHost(b *testing.B) {
	in := benchInput()
	m := Build(in, Options{})
	fqdn := rootFQDN(in.Roots[benchRoots/2])
	b.ReportAllocs()
	for b.Loop() {
		m.Rebuild(in, Options{}, fqdn)
	}
}
