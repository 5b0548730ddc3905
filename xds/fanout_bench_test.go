package xds_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"google.golang.org/protobuf/proto"
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

// fanoutClientMiB is the RSS one client costs (decoded configuration and GC headroom).
const fanoutClientMiB = 125

// memAvailableMiB is MemAvailable of /proc/meminfo, or 0 if unknown.
func memAvailableMiB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// procStatus returns VmRSS and VmHWM of this process, in MiB.
func procStatus(tb testing.TB) (rss, hwm float64) {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Logf("reading RSS: %v", err)
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile of sorted durations (nearest rank), in milliseconds.
func percentileMS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// hasRoutePrefix reports whether the route configuration name of s has a route matching
// prefix.
func hasRoutePrefix(s client.State, name, prefix string) bool {
	rc, _ := s.Routes[name].(*routev3.RouteConfiguration)
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if r.GetMatch().GetPrefix() == prefix {
				return true
			}
		}
	}
	return false
}

// changeWatch is the change the clients' NACK hooks look for.
type changeWatch struct {
	prefix string
	t0     time.Time
	// left counts the clients that have not seen the change; done is closed at zero.
	left int64
	done chan struct{}
}

// seeChange is a client's NACK hook (it never rejects): it records, once per change, when
// an RDS response carrying route configuration name with a route on the watched prefix
// arrives.
func seeChange(watch *atomic.Pointer[changeWatch], seenAt *atomic.Int64, name string) func(string, []proto.Message) error {
	return func(typeURL string, resources []proto.Message) error {
		w := watch.Load()
		if w == nil || typeURL != resource.RouteType || seenAt.Load() != 0 {
			return nil
		}
		for _, r := range resources {
			rc, ok := r.(*routev3.RouteConfiguration)
			if !ok || rc.GetName() != name {
				continue
			}
			for _, vh := range rc.GetVirtualHosts() {
				for _, rt := range vh.GetRoutes() {
					if rt.GetMatch().GetPrefix() == w.prefix {
						seenAt.Store(int64(max(time.Since(w.t0), 1)))
						if atomic.AddInt64(&w.left, -1) == 0 {
							close(w.done)
						}
						return nil
					}
				}
			}
		}
		return nil
	}
}

// BenchmarkFanout (issue 5) serves the 10,000-HTTPProxy world over loopback to N concurrent
// state-of-the-world ADS clients (N = WARDEN_FANOUT_CLIENTS, default 1,000 but capped to
// what 60% of MemAvailable holds; distinct node ids; WARDEN_FANOUT_MODE=delta for delta
// xDS), measures how long until every client holds the complete configuration, then changes
// one route (one child's prefix; the vhost is rebuilt with model.Rebuild) per iteration and
// measures how long until every client sees it. Metrics: connect_p50/p99/last_ms (from the
// start of the dials), change_p50/p99/last_ms (from the start of the rebuild, which
// includes translation and Publish), publish_ms, RSS (MiB) before the clients, after the
// initial sync and after the change, and CPU seconds (user+sys) of the change propagation.
//
// The clients are xds/client's Envoy-like client: each holds the decoded resources it
// accepted (it cannot keep only versions), so the memory reported includes N decoded
// copies of the configuration, and the CPU includes the clients' decoding.
// WARDEN_FANOUT_CPUPROFILE=file writes a CPU profile of the first change's propagation.
func BenchmarkFanout(b *testing.B) {
	nClients := fanoutDefaultClients
	if v := os.Getenv("WARDEN_FANOUT_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("WARDEN_FANOUT_CLIENTS=%q: want a positive integer", v)
		}
		nClients = n
	}
	// Each client holds a decoded copy of the configuration: about 61 MiB of live heap and
	// 120 MiB of RSS at GOGC=100 (measured with 100 clients). Run no more clients than the
	// available memory holds.
	if avail := memAvailableMiB(); avail > 0 {
		// Leave 40% for the rest of the machine.
		if fit := int(avail * 0.6 / fanoutClientMiB); fit < nClients {
			b.Logf("WARNING: %d clients need about %d MiB; MemAvailable is %.0f MiB: running %d clients",
				nClients, nClients*fanoutClientMiB, avail, max(fit, 1))
			nClients = max(fit, 1)
		}
	}
	mode := client.SotW
	if os.Getenv("WARDEN_FANOUT_MODE") == "delta" {
		mode = client.Delta
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The world, translated and published.
	in := fanoutInput()
	m := model.Build(in, model.Options{})
	if len(m.VirtualHosts) != fanoutRoots {
		b.Fatalf("%d vhosts, want %d", len(m.VirtualHosts), fanoutRoots)
	}
	fillSecrets(m)
	res, err := translate.Translate(m, translate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("resources: %d listeners, %d route configurations, %d clusters, %d assignments, %d secrets; missing: %v",
		len(res.Listeners), len(res.Routes), len(res.Clusters), len(res.Endpoints), len(res.Secrets), res.Missing)
	wantRoutes, wantClusters, wantEndpoints, wantSecrets := len(res.Routes), len(res.Clusters), len(res.Endpoints), len(res.Secrets)
	res = nil

	cache := xds.NewCache(logr.Discard())
	pub := xds.NewPublisher(cache, translate.Options{})
	if err := pub.Publish(ctx, m); err != nil {
		b.Fatal(err)
	}
	cb, err := xds.NewCallbacks(logr.Discard(), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(cache, cb.Funcs(), server.Options{Address: "127.0.0.1:0", Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-srvDone; err != nil {
			b.Errorf("server: %v", err)
		}
	}()
	runtime.GC()
	rssServer, _ := procStatus(b)

	// complete is a cheap pre-check (every route configuration, assignment and secret is
	// there) before CheckComplete, which walks every reference.
	complete := func(s client.State) bool {
		if len(s.Routes) < wantRoutes || len(s.Clusters) < wantClusters || len(s.Endpoints) < wantEndpoints || len(s.Secrets) < wantSecrets {
			return false
		}
		return client.CheckComplete(s) == nil
	}

	// Connect every client and wait until all hold the full configuration.
	clients := make([]*client.Client, nClients)
	seenAt := make([]*atomic.Int64, nClients)
	var watch atomic.Pointer[changeWatch]
	routeConfig := translate.HTTPSRouteConfigName(fanoutFQDN(fanoutChangedRoot))
	connected := make([]time.Duration, nClients)
	runErrs := make(chan error, nClients)
	var wg sync.WaitGroup
	start := time.Now()
	cpu0 := cpuTime()
	var failMu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		failMu.Lock()
		defer failMu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Minute)
	defer waitCancel()
	for i := range nClients {
		wg.Go(func() {
			seenAt[i] = new(atomic.Int64)
			c, err := client.Dial(waitCtx, client.Options{Address: srv.Addr().String(), NodeID: fmt.Sprintf("envoy-%04d", i),
				Mode: mode, NACK: seeChange(&watch, seenAt[i], routeConfig)})
			if err != nil {
				fail("client %d: %v", i, err)
				return
			}
			clients[i] = c
			go func() { runErrs <- c.Run(ctx) }()
			if s, err := c.WaitFor(waitCtx, complete); err != nil {
				fail("client %d: not complete: %v (%d routes, %d clusters, %d assignments, %d secrets; %v)", i, err,
					len(s.Routes), len(s.Clusters), len(s.Endpoints), len(s.Secrets), client.CheckComplete(s))
				return
			}
			connected[i] = time.Since(start)
		})
	}
	wg.Wait()
	connectCPU := cpuTime() - cpu0
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if len(failures) > 0 {
		slices.Sort(failures)
		b.Fatalf("%d of %d clients failed to sync; first: %s", len(failures), nClients, failures[0])
	}
	slices.Sort(connected)
	rssSynced, hwmSynced := procStatus(b)
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	heapSynced := float64(ms0.HeapAlloc) / (1 << 20)
	b.Logf("live heap after the initial sync: %.0f MiB (%.1f MiB per client, server and model included); client 0 responses: %v",
		heapSynced, heapSynced/float64(nClients), clients[0].Snapshot().Responses)
	b.Logf("initial sync of %d clients: p50 %.0f ms, p99 %.0f ms, last %.0f ms; CPU %.1f s; RSS %.0f MiB (server only: %.0f MiB), HWM %.0f MiB",
		nClients, percentileMS(connected, 0.5), percentileMS(connected, 0.99), ms(connected[len(connected)-1]),
		connectCPU.Seconds(), rssSynced, rssServer, hwmSynced)

	// Change one route per iteration: child-0 of one root moves its /api route to a new
	// prefix; the vhost is rebuilt and the model published. A client sees the change when it
	// receives and decodes the RDS response carrying it (its NACK hook, called before the
	// response is applied and ACKed).
	changedNS := fmt.Sprintf("team-%d", fanoutChangedRoot)
	var seen []time.Duration
	var publish, changeCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		apiPrefix := fmt.Sprintf("/api-v%d", i+2)
		want := "/child-0" + apiPrefix
		child := fanoutChild(changedNS, "child-0", apiPrefix)
		w := &changeWatch{prefix: want, left: int64(nClients), done: make(chan struct{})}
		for _, s := range seenAt {
			s.Store(0)
		}
		if p := os.Getenv("WARDEN_FANOUT_CPUPROFILE"); p != "" && i == 0 {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		cpuStart := cpuTime()
		w.t0 = time.Now()
		watch.Store(w)
		in.Proxies[model.KeyOf(child)] = child
		m.Rebuild(in, model.Options{}, fanoutFQDN(fanoutChangedRoot))
		fillSecrets(m)
		if err := pub.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
		publish = time.Since(w.t0)
		select {
		case <-w.done:
		case <-time.After(2 * time.Minute):
		}
		changeCPU = cpuTime() - cpuStart
		if os.Getenv("WARDEN_FANOUT_CPUPROFILE") != "" && i == 0 {
			pprof.StopCPUProfile()
		}
		watch.Store(nil)
		seen = seen[:0]
		var missing []int
		for j, s := range seenAt {
			if d := s.Load(); d > 0 {
				seen = append(seen, time.Duration(d))
			} else {
				missing = append(missing, j)
			}
		}
		if len(missing) > 0 {
			b.Fatalf("%d of %d clients did not see the change within 2 minutes, e.g. client %d", len(missing), nClients, missing[0])
		}
		// The change is applied, not only received: check a few clients' state.
		for _, j := range []int{0, nClients / 2, nClients - 1} {
			s, err := clients[j].WaitFor(ctx, func(s client.State) bool { return hasRoutePrefix(s, routeConfig, want) })
			if err != nil {
				b.Fatalf("client %d: %v", j, err)
			}
			if err := client.CheckComplete(s); err != nil {
				b.Errorf("client %d incomplete after the change: %v", j, err)
			}
		}
	}
	b.StopTimer()
	b.Logf("client 0 responses after the change: %v", clients[0].Snapshot().Responses)
	slices.Sort(seen)
	rssChanged, hwm := procStatus(b)
	b.Logf("change seen by %d clients: p50 %.0f ms, p99 %.0f ms, last %.0f ms (publish %.0f ms); CPU %.2f s; RSS %.0f MiB, HWM %.0f MiB",
		nClients, percentileMS(seen, 0.5), percentileMS(seen, 0.99), ms(seen[len(seen)-1]), ms(publish),
		changeCPU.Seconds(), rssChanged, hwm)
	// After the loop: ResetTimer drops the metrics reported before it.
	b.ReportMetric(float64(nClients), "clients")
	b.ReportMetric(percentileMS(connected, 0.5), "connect_p50_ms")
	b.ReportMetric(percentileMS(connected, 0.99), "connect_p99_ms")
	b.ReportMetric(ms(connected[len(connected)-1]), "connect_last_ms")
	b.ReportMetric(connectCPU.Seconds(), "connect_cpu_s")
	b.ReportMetric(rssServer, "rss_server_MiB")
	b.ReportMetric(rssSynced, "rss_synced_MiB")
	b.ReportMetric(heapSynced, "heap_synced_MiB")
	b.ReportMetric(ms(publish), "publish_ms")
	b.ReportMetric(percentileMS(seen, 0.5), "change_p50_ms")
	b.ReportMetric(percentileMS(seen, 0.99), "change_p99_ms")
	b.ReportMetric(ms(seen[len(seen)-1]), "change_last_ms")
	b.ReportMetric(changeCPU.Seconds(), "change_cpu_s")
	b.ReportMetric(rssChanged, "rss_changed_MiB")
	b.ReportMetric(hwm, "hwm_MiB")

	// No client stopped.
	select {
	case err := <-runErrs:
		b.Errorf("a client stopped: %v", err)
	default:
	}
}
