package translate

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	m := model.Build(benchInput(benchRoots), model.Options{})
	if len(m.VirtualHosts) != benchRoots {
		tb.Fatalf("%d vhosts, want %d", len(m.VirtualHosts), benchRoots)
	}
	fillBenchSecrets(m)
	return m
}

// benchInput is the input of benchModel with the given number of roots.
func benchInput(roots int) model.Input {
	in := model.NewInput()
	for r := range roots {
		ns := fmt.Sprintf("team-%d", r)
		root := fixture.Proxy(ns, "root").FQDN(fmt.Sprintf("app-%d.example.com", r)).TLS("cert")
		in.Secrets.Insert(model.Key{Namespace: ns, Name: "cert"})
		for c := range benchChildrenPerRoot {
			name := fmt.Sprintf("child-%d", c)
			root.Include(ns, name, fixture.Prefix("/"+name))
			in.Add(benchChild(ns, name, "/api"))
			svc := fixture.Service(ns, name, 80)
			in.Add(svc)
			in.EndpointSlices[model.KeyOf(svc)] = []*discoveryv1.EndpointSlice{
				endpointSlice(ns, name, name+"-abcde", []discoveryv1.EndpointPort{{Name: ptr(""), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
					"10.0.0.1", "10.0.0.2", "10.0.0.3"),
			}
		}
		in.Add(root.Obj())
	}
	return in
}

// benchChild is a child of benchInput: a route under prefix, and a catch-all route for
// canaries, to its own Service.
func benchChild(ns, name, prefix string) *contourv1.HTTPProxy {
	return fixture.Proxy(ns, name).
		Route(name, 80, fixture.Prefix(prefix)).
		Route(name, 80, fixture.Prefix("/"), fixture.Header(contourv1.HeaderMatchCondition{Name: "x-canary", Present: true})).
		Obj()
}

// fillBenchSecrets fills the data of every certificate of m, as the controller does
// before each translation: a rebuilt vhost's Secret is a new one, without data.
func fillBenchSecrets(m *model.Model) {
	for _, s := range m.Secrets {
		if s.Data != nil {
			continue
		}
		s.Data = map[string][]byte{
			KeyCertificate: []byte("-----BEGIN CERTIFICATE-----\n" + s.Name.String() + "\n-----END CERTIFICATE-----\n"),
			KeyPrivateKey:  []byte("-----BEGIN PRIVATE KEY-----\n" + s.Name.String() + "\n-----END PRIVATE KEY-----\n"),
		}
	}
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
		checkBenchCounts(b, r)
	}
}

// BenchmarkTranslateIncremental is what one route change costs a Translator in the
// 10,000-proxy model (target: under 5 ms): a child's route changes, its vhost is rebuilt
// (model.Rebuild, not timed) and the model translated again. The vhost's clusters,
// assignments and certificate are new objects with the same content; ingress_http and
// https/<fqdn> change.
func BenchmarkTranslateIncremental(b *testing.B) {
	in := benchInput(benchRoots)
	m := model.Build(in, model.Options{})
	fillBenchSecrets(m)
	tr := NewTranslator(Options{})
	if _, err := tr.Translate(m); err != nil {
		b.Fatal(err)
	}
	ns, fqdn := "team-1000", "app-1000.example.com"
	prefixes := []string{"/api/v2", "/api"}
	runtime.GC() // not the setup's garbage: its collection would overlap the first iterations
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		in.Add(benchChild(ns, "child-0", prefixes[i%2]))
		m.Rebuild(in, model.Options{}, fqdn)
		fillBenchSecrets(m)
		i++
		b.StartTimer()
		r, err := tr.Translate(m)
		if err != nil {
			b.Fatal(err)
		}
		checkBenchCounts(b, r)
	}
}

// checkBenchCounts fails unless r has the route configurations and clusters of the
// benchmark model.
func checkBenchCounts(b *testing.B, r *Resources) {
	routes, clusters := len(r.Encoded[resource.RouteType]), len(r.Encoded[resource.ClusterType])
	if routes != benchRoots+1 || clusters != benchRoots*benchChildrenPerRoot {
		b.Fatalf("%d route configurations and %d clusters", routes, clusters)
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
	if got := len(decode(t, r).Listeners[1].FilterChains); got != benchRoots {
		t.Errorf("%d HTTPS filter chains, want %d", got, benchRoots)
	}
}

// BenchmarkTranslatorRetained measures what a Translator keeps between calls: the heap
// still in use (runtime.GC, then HeapAlloc against before) after it translated the
// 10,000-proxy model, with the Translator and the model alive and the Resources dropped, as
// the Publisher drops them. The encodings count, though the xDS cache shares them.
//
// The profile -memprofile writes comes after the benchmark, when the Translator is
// garbage; so with -memprofile the benchmark also writes the heap in use while the
// Translator is alive, to the same name with ".retained" appended:
//
//	go test -run '^$' -bench TranslatorRetained -benchtime 1x -memprofile m.out ./xds/translate/
//	go tool pprof -sample_index=inuse_space -top m.out.retained
func BenchmarkTranslatorRetained(b *testing.B) {
	m := benchModel(b)
	var retained float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr := NewTranslator(Options{})
		if _, err := tr.Translate(m); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		retained = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / 1e6
		writeRetainedProfile(b)
		runtime.KeepAlive(tr)
	}
	runtime.KeepAlive(m)
	b.ReportMetric(retained, "retained-MB")
}

// writeRetainedProfile writes the heap profile as of the last garbage collection to the
// -memprofile file with ".retained" appended (in -outputdir, as go test places it), if
// -memprofile is set.
func writeRetainedProfile(b *testing.B) {
	name := flag.Lookup("test.memprofile")
	if name == nil || name.Value.String() == "" {
		return
	}
	path := name.Value.String() + ".retained"
	if dir := flag.Lookup("test.outputdir"); dir != nil && !filepath.IsAbs(path) {
		path = filepath.Join(dir.Value.String(), path)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
