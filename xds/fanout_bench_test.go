package xds_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy/fixture"
	"github.com/projectwarden/warden/xds"
	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/server"
	"github.com/projectwarden/warden/xds/translate"
)

// The fan-out world is controller/model's benchmark world (BenchmarkBuild): 10,000
// HTTPProxies, 2,000 TLS roots each including 4 children.
const (
	fanoutRoots           = 2000
	fanoutChildrenPerRoot = 4
	// fanoutDefaultClients is the number of ADS clients; WARDEN_FANOUT_CLIENTS overrides it.
	fanoutDefaultClients = 1000
	// fanoutChangedRoot is the root whose child-0 gets its /api route prefix changed.
	fanoutChangedRoot = fanoutRoots / 2
)

// fanoutInput is controller/model's benchInput: 2,000 TLS roots (one namespace per root),
// each including 4 children under their own prefix; each child has 2 routes (one with a
// header condition) to its own Service, which has an EndpointSlice of 3 endpoints.
func fanoutInput() model.Input {
	in := model.Input{
		Proxies:        map[model.Key]*contourv1.HTTPProxy{},
		Services:       map[model.Key]*corev1.Service{},
		EndpointSlices: map[model.Key][]*discoveryv1.EndpointSlice{},
		Secrets:        sets.New[model.Key](),
	}
	for r := range fanoutRoots {
		ns := fmt.Sprintf("team-%d", r)
		root := fixture.Proxy(ns, "root").FQDN(fanoutFQDN(r)).TLS("cert")
		in.Secrets.Insert(model.Key{Namespace: ns, Name: "cert"})
		for c := range fanoutChildrenPerRoot {
			name := fmt.Sprintf("child-%d", c)
			root.Include(ns, name, fixture.Prefix("/"+name))
			child := fanoutChild(ns, name, "/api")
			in.Proxies[model.KeyOf(child)] = child
			svc := fixture.Service(ns, name, 80)
			in.Services[model.KeyOf(svc)] = svc
			in.EndpointSlices[model.KeyOf(svc)] = []*discoveryv1.EndpointSlice{
				fanoutEndpointSlice(ns, name, name+"-abcde", 8080, "10.0.0.1", "10.0.0.2", "10.0.0.3"),
			}
		}
		obj := root.Obj()
		in.Proxies[model.KeyOf(obj)] = obj
		in.Roots = append(in.Roots, obj)
	}
	return in
}

func fanoutFQDN(root int) string { return fmt.Sprintf("app-%d.example.com", root) }

// fanoutChild is a child proxy with a route under apiPrefix and a canary route on "/".
func fanoutChild(ns, name, apiPrefix string) *contourv1.HTTPProxy {
	return fixture.Proxy(ns, name).
		Route(name, 80, fixture.Prefix(apiPrefix)).
		Route(name, 80, fixture.Prefix("/"), fixture.Header(contourv1.HeaderMatchCondition{Name: "x-canary", Present: true})).
		Obj()
}

func fanoutEndpointSlice(ns, service, name string, port int32, addrs ...string) *discoveryv1.EndpointSlice {
	portName, proto, ready := "", corev1.ProtocolTCP, true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

// fillSecrets gives every certificate of m data (as the controller does before translation),
// so that every TLS vhost gets its HTTPS filter chain and SDS secret.
func fillSecrets(m *model.Model) {
	for _, s := range m.Secrets {
		if len(s.Data) > 0 {
			continue
		}
		s.Data = map[string][]byte{
			translate.KeyCertificate: []byte("-----BEGIN CERTIFICATE-----\n" + s.Name.String() + "\n-----END CERTIFICATE-----\n"),
			translate.KeyPrivateKey:  []byte("-----BEGIN PRIVATE KEY-----\n" + s.Name.String() + "\n-----END PRIVATE KEY-----\n"),
		}
	}
}

// fanoutClientMiB is the RSS high-water mark one light client adds to the process, server
// side included: the clients hold about 0.8 MiB each and the server 2.4 MiB per client
// (live heap), but 1,000 clients syncing at once receive gigabytes, and the garbage
// collector lets the heap grow to twice what is live. Measured with 1,000 clients: HWM
// 12.1 to 15.1 GiB (state of the world) and 13.5 GiB (delta).
const fanoutClientMiB = 14

// fanoutClients is the number of clients to run: WARDEN_FANOUT_CLIENTS (default
// fanoutDefaultClients), capped to what 70% of MemAvailable holds.
func fanoutClients(b *testing.B) int {
	n := fanoutDefaultClients
	if v := os.Getenv("WARDEN_FANOUT_CLIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("WARDEN_FANOUT_CLIENTS=%q: want a positive integer", v)
		}
	}
	if avail := memAvailableMiB(); avail > 0 {
		// Leave 30% for the rest of the machine.
		if fit := int(avail * 0.7 / fanoutClientMiB); fit < n {
			b.Logf("WARNING: %d clients need about %d MiB; MemAvailable is %.0f MiB: running %d clients",
				n, n*fanoutClientMiB, avail, max(fit, 1))
			n = max(fit, 1)
		}
	}
	return n
}

// fanout is one run of BenchmarkFanout: the world, its server and the clients.
type fanout struct {
	ctx  context.Context
	mode client.Mode
	in   model.Input
	m    *model.Model
	pub  *xds.Publisher
	srv  *server.Server
	// want is, by type URL, the number of resources of a complete configuration.
	want map[string]int
	// routeConfig is the route configuration that changes.
	routeConfig string

	clients []*client.Client
	seen    []*seen
	watch   atomic.Pointer[changeWatch]
	runErrs chan error
	// rssServer and heapServer (MiB) are measured before the clients connect.
	rssServer, heapServer float64
}

// changeWatch is the change the clients' NACKRaw hooks look for.
type changeWatch struct {
	prefix string
	t0     time.Time
	// left counts the clients that have not seen the change; done is closed at zero.
	left int64
	done chan struct{}
}

// seen is what a client's hook recorded of the change watched: when it arrived (since the
// change started; 0 until then) and the fingerprint of the route configuration carrying it.
type seen struct {
	at          atomic.Int64
	fingerprint atomic.Uint64
}

// hook is a client's NACKRaw hook (it never rejects): it records, once per change, when an
// RDS response carrying f.routeConfig with a route on the watched prefix arrives. It
// decodes that one route configuration only, found by name among the raw resources, so
// that what is timed is the client receiving a response it can apply.
func (f *fanout) hook(s *seen) func(string, []client.RawResource) error {
	return func(typeURL string, resources []client.RawResource) error {
		w := f.watch.Load()
		if w == nil || typeURL != resource.RouteType || s.at.Load() != 0 {
			return nil
		}
		for _, r := range resources {
			if r.Name != f.routeConfig {
				continue
			}
			var rc routev3.RouteConfiguration
			if err := r.Resource.UnmarshalTo(&rc); err != nil || !hasRoutePrefix(&rc, w.prefix) {
				return nil
			}
			s.fingerprint.Store(client.Fingerprint(r.Resource))
			s.at.Store(int64(max(time.Since(w.t0), 1)))
			if atomic.AddInt64(&w.left, -1) == 0 {
				close(w.done)
			}
		}
		return nil
	}
}

// hasRoutePrefix reports whether rc has a route matching prefix.
func hasRoutePrefix(rc *routev3.RouteConfiguration, prefix string) bool {
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if r.GetMatch().GetPrefix() == prefix {
				return true
			}
		}
	}
	return false
}

// newFanout builds and publishes the world, and starts its server until ctx is done; the
// returned function waits for the server to stop.
func newFanout(b *testing.B, ctx context.Context, mode client.Mode) (*fanout, func()) {
	f := &fanout{ctx: ctx, mode: mode, in: fanoutInput(), routeConfig: translate.HTTPSRouteConfigName(fanoutFQDN(fanoutChangedRoot))}
	f.m = model.Build(f.in, model.Options{})
	if len(f.m.VirtualHosts) != fanoutRoots {
		b.Fatalf("%d vhosts, want %d", len(f.m.VirtualHosts), fanoutRoots)
	}
	fillSecrets(f.m)
	res, err := translate.Translate(f.m, translate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f.want = map[string]int{}
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType} {
		f.want[typ] = len(res.Encoded[typ])
	}
	b.Logf("resources: %d listeners, %d route configurations, %d clusters, %d assignments, %d secrets; missing: %v",
		f.want[resource.ListenerType], f.want[resource.RouteType], f.want[resource.ClusterType],
		f.want[resource.EndpointType], f.want[resource.SecretType], res.Missing)

	cache := xds.NewCache(logr.Discard())
	f.pub = xds.NewPublisher(cache, translate.Options{})
	onSide(ctx, sidePublish, func(ctx context.Context) { err = f.pub.Publish(ctx, f.m) })
	if err != nil {
		b.Fatal(err)
	}
	cb, err := xds.NewCallbacks(logr.Discard(), nil)
	if err != nil {
		b.Fatal(err)
	}
	// The clients share the server's CPU: while 1,000 of them sync, one may take longer
	// than the default 20 s to answer a keepalive ping, and the server closes its
	// connection. Envoys have CPUs of their own: wait as long as the sync may last.
	f.srv, err = server.New(cache, cb.Funcs(), server.Options{Address: "127.0.0.1:0", Insecure: true, KeepaliveTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go onSide(ctx, sideServer, func(ctx context.Context) { srvDone <- f.srv.Run(ctx) })
	runtime.GC()
	f.rssServer, _ = procStatus(b)
	f.heapServer = heapMiB()
	return f, func() {
		if err := <-srvDone; err != nil {
			b.Errorf("server: %v", err)
		}
	}
}

// heapMiB is the live heap, in MiB, after two collections: the buffers that gRPC pools
// (sync.Pool) survive one.
func heapMiB() float64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// complete reports whether a client's state holds the whole configuration: the counts of
// a complete configuration (cheap), then CheckComplete.
func (f *fanout) complete(s client.State) bool {
	for typ, n := range f.want {
		if s.Summaries.Len(typ) < n {
			return false
		}
	}
	return s.Pending() == 0 && client.CheckComplete(s) == nil
}

// describe summarises a client's state for failure messages.
func describe(s client.State) string {
	return fmt.Sprintf("%d routes, %d clusters, %d assignments, %d secrets; %v",
		s.Summaries.Len(resource.RouteType), s.Summaries.Len(resource.ClusterType), s.Summaries.Len(resource.EndpointType),
		s.Summaries.Len(resource.SecretType), client.CheckComplete(s))
}

// connect dials n light clients at once and waits until each holds the whole
// configuration; it returns how long each took (sorted), from the start of the dials.
func (f *fanout) connect(b *testing.B, n int) []time.Duration {
	f.clients, f.seen = make([]*client.Client, n), make([]*seen, n)
	f.runErrs = make(chan error, n)
	connected := make([]time.Duration, n)
	waitCtx, cancel := context.WithTimeout(f.ctx, 10*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		f.seen[i] = &seen{}
		wg.Go(func() {
			onSide(waitCtx, sideClients, func(ctx context.Context) {
				c, err := client.Dial(ctx, client.Options{Address: f.srv.Addr().String(), NodeID: fmt.Sprintf("envoy-%04d", i),
					Mode: f.mode, Light: true, NACKRaw: f.hook(f.seen[i])})
				if err != nil {
					fail("client %d: %v", i, err)
					return
				}
				f.clients[i] = c
				go func() { f.runErrs <- c.Run(f.ctx) }()
				if s, err := c.WaitFor(ctx, f.complete); err != nil {
					fail("client %d: not complete: %v (%s)", i, err, describe(s))
					return
				}
				connected[i] = time.Since(start)
			})
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		slices.Sort(failures)
		b.Fatalf("%d of %d clients failed to sync; first: %s", len(failures), n, failures[0])
	}
	slices.Sort(connected)
	return connected
}

// closeClients closes the clients dialled.
func (f *fanout) closeClients() {
	for _, c := range f.clients {
		if c != nil {
			_ = c.Close()
		}
	}
}

// changeResult is what one change measured.
type changeResult struct {
	// seen is, sorted, how long each client took to receive the change.
	seen    []time.Duration
	publish time.Duration
	cpu     time.Duration
	// shares is the CPU time sampled by side.
	shares map[string]time.Duration
}

// change moves the /api route of child-0 of the changed root to a new prefix (iteration
// i), rebuilds the vhost and publishes the model, and waits until every client has seen
// the change (its NACKRaw hook, called before the response is applied and ACKed).
// profileFile, if not empty, receives the CPU profile of the propagation.
func (f *fanout) change(b *testing.B, i int, profileFile string) changeResult {
	apiPrefix := fmt.Sprintf("/api-v%d", i+2)
	want := "/child-0" + apiPrefix
	ns := fmt.Sprintf("team-%d", fanoutChangedRoot)
	child := fanoutChild(ns, "child-0", apiPrefix)
	w := &changeWatch{prefix: want, left: int64(len(f.clients)), done: make(chan struct{})}
	for _, s := range f.seen {
		s.at.Store(0)
	}
	prof := startCPUProfile(b)
	cpuStart := cpuTime()
	w.t0 = time.Now()
	f.watch.Store(w)
	var res changeResult
	var err error
	onSide(f.ctx, sidePublish, func(ctx context.Context) {
		f.in.Proxies[model.KeyOf(child)] = child
		f.m.Rebuild(f.in, model.Options{}, fanoutFQDN(fanoutChangedRoot))
		fillSecrets(f.m)
		err = f.pub.Publish(ctx, f.m)
	})
	if err != nil {
		b.Fatal(err)
	}
	res.publish = time.Since(w.t0)
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
	}
	res.cpu = cpuTime() - cpuStart
	res.shares = prof.stop(b, profileFile)
	f.watch.Store(nil)
	var missing []int
	for j, s := range f.seen {
		if d := s.at.Load(); d > 0 {
			res.seen = append(res.seen, time.Duration(d))
		} else {
			missing = append(missing, j)
		}
	}
	if len(missing) > 0 {
		b.Fatalf("%d of %d clients did not see the change within 2 minutes, e.g. client %d", len(missing), len(f.clients), missing[0])
	}
	slices.Sort(res.seen)
	return res
}

// checkApplied checks that a few clients applied the change, not only received it: they
// hold the route configuration their hook saw with the change, and their state is complete.
func (f *fanout) checkApplied(b *testing.B) {
	n := len(f.clients)
	for _, j := range []int{0, n / 2, n - 1} {
		fp := f.seen[j].fingerprint.Load()
		ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
		s, err := f.clients[j].WaitFor(ctx, func(s client.State) bool {
			sum, ok := s.Summaries.Get(resource.RouteType, f.routeConfig)
			return ok && sum.Fingerprint == fp
		})
		cancel()
		if err != nil {
			b.Fatalf("client %d does not hold the changed %s: %v", j, f.routeConfig, err)
		}
		if !f.complete(s) {
			b.Errorf("client %d incomplete after the change: %s", j, describe(s))
		}
	}
}

// BenchmarkFanout (issue 5) serves the 10,000-HTTPProxy world over loopback to N concurrent
// light ADS clients (xds/client with Options.Light; N = WARDEN_FANOUT_CLIENTS, default
// 1,000, capped to what 70% of MemAvailable holds at fanoutClientMiB each; distinct node
// ids; state of the world, or delta with WARDEN_FANOUT_MODE=delta), measures how long until
// every client holds the complete configuration, then changes one route (one child's
// prefix; the vhost is rebuilt with model.Rebuild) per iteration and measures how long
// until every client has received it.
//
// Metrics: connect_p50/p99/last_ms (from the start of the dials), change_p50/p99/last_ms
// (from the start of the rebuild, which includes translation and Publish), publish_ms,
// RSS (MiB) before the clients (server only), after the initial sync and after the change,
// its high-water mark, and the CPU seconds (user+sys) of the sync and of the change. The
// live heap after the sync is split (heap profile): heap_client_KiB is what one client
// holds (allocated under xds/client or gRPC's client side), heap_server_MiB the rest (the
// server, its cache and per-stream state, the model, translation and the fixtures).
//
// The clients run in the server's process: the RSS and CPU include them. Light clients
// hold about 0.8 MiB each (summaries, not decoded resources), but still receive, unpack
// and hash every response, and decode every listener and cluster. A CPU profile labels every
// goroutine with its side (sideLabel): the *_cpu_server_s, *_cpu_clients_s,
// change_cpu_publish_s (rebuild, translation, cache update) and *_cpu_other_s (the
// garbage collector's background work, caused by both sides) metrics split the sampled
// CPU. WARDEN_FANOUT_CPUPROFILE=file writes the CPU profile of the first change's
// propagation (`go tool pprof -tagfocus fanout=server` shows the server's part) and
// file.connect that of the initial sync; WARDEN_FANOUT_MEMPROFILE=file writes a heap
// profile after the initial sync.
func BenchmarkFanout(b *testing.B) {
	nClients := fanoutClients(b)
	mode := client.SotW
	if os.Getenv("WARDEN_FANOUT_MODE") == "delta" {
		mode = client.Delta
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, wait := newFanout(b, ctx, mode)
	defer func() { cancel(); wait() }()

	prof := startCPUProfile(b)
	cpu0 := cpuTime()
	connected := f.connect(b, nClients)
	connectCPU := cpuTime() - cpu0
	connectProfile := ""
	if p := os.Getenv("WARDEN_FANOUT_CPUPROFILE"); p != "" {
		connectProfile = p + ".connect"
	}
	connectShares := prof.stop(b, connectProfile)
	defer f.closeClients()
	rssSynced, hwmSynced := procStatus(b)
	heapSynced := heapMiB()
	heapSides, err := heapBySide(heapProfile(b, os.Getenv("WARDEN_FANOUT_MEMPROFILE")))
	if err != nil {
		b.Errorf("reading the heap profile: %v", err)
	}
	perClient := heapSides[sideClients] / float64(nClients)
	b.Logf("live heap: %.0f MiB before the clients, %.0f MiB after the initial sync: clients %.0f MiB (%.0f KiB each), server %.0f MiB (%.0f KiB per client more than before); client 0 responses: %v",
		f.heapServer, heapSynced, heapSides[sideClients], perClient*1024, heapSides[sideServer],
		(heapSides[sideServer]-f.heapServer)/float64(nClients)*1024, f.clients[0].Snapshot().Responses)
	b.Logf("initial sync of %d %s clients: p50 %.0f ms, p99 %.0f ms, last %.0f ms; CPU %.1f s (%s); RSS %.0f MiB (server only: %.0f MiB), HWM %.0f MiB",
		nClients, mode, percentileMS(connected, 0.5), percentileMS(connected, 0.99), ms(connected[len(connected)-1]),
		connectCPU.Seconds(), formatSides(connectShares), rssSynced, f.rssServer, hwmSynced)

	var last changeResult
	b.ResetTimer()
	for i := range b.N {
		profileFile := ""
		if i == 0 {
			profileFile = os.Getenv("WARDEN_FANOUT_CPUPROFILE")
		}
		last = f.change(b, i, profileFile)
		f.checkApplied(b)
	}
	b.StopTimer()
	rssChanged, hwm := procStatus(b)
	b.Logf("client 0 responses after the change: %v", f.clients[0].Snapshot().Responses)
	b.Logf("change seen by %d clients: p50 %.0f ms, p99 %.0f ms, last %.0f ms (publish %.0f ms); CPU %.2f s (%s); RSS %.0f MiB, HWM %.0f MiB",
		nClients, percentileMS(last.seen, 0.5), percentileMS(last.seen, 0.99), ms(last.seen[len(last.seen)-1]), ms(last.publish),
		last.cpu.Seconds(), formatSides(last.shares), rssChanged, hwm)
	// After the loop: ResetTimer drops the metrics reported before it.
	for _, m := range []struct {
		v    float64
		unit string
	}{
		{float64(nClients), "clients"},
		{percentileMS(connected, 0.5), "connect_p50_ms"}, {percentileMS(connected, 0.99), "connect_p99_ms"},
		{ms(connected[len(connected)-1]), "connect_last_ms"},
		{connectCPU.Seconds(), "connect_cpu_s"},
		{connectShares[sideServer].Seconds(), "connect_cpu_server_s"}, {connectShares[sideClients].Seconds(), "connect_cpu_clients_s"},
		{connectShares[sideOther].Seconds(), "connect_cpu_other_s"},
		{f.rssServer, "rss_server_MiB"}, {rssSynced, "rss_synced_MiB"}, {heapSynced, "heap_synced_MiB"},
		{heapSides[sideServer], "heap_server_MiB"}, {perClient * 1024, "heap_client_KiB"},
		{ms(last.publish), "publish_ms"},
		{percentileMS(last.seen, 0.5), "change_p50_ms"}, {percentileMS(last.seen, 0.99), "change_p99_ms"},
		{ms(last.seen[len(last.seen)-1]), "change_last_ms"},
		{last.cpu.Seconds(), "change_cpu_s"},
		{last.shares[sideServer].Seconds(), "change_cpu_server_s"}, {last.shares[sideClients].Seconds(), "change_cpu_clients_s"},
		{last.shares[sidePublish].Seconds(), "change_cpu_publish_s"}, {last.shares[sideOther].Seconds(), "change_cpu_other_s"},
		{rssChanged, "rss_changed_MiB"}, {hwm, "hwm_MiB"},
	} {
		b.ReportMetric(m.v, m.unit)
	}
	select {
	case err := <-f.runErrs:
		b.Errorf("a client stopped: %v", err)
	default:
	}
}
