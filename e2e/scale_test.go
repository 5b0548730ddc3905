package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/e2e/framework"
	fx "github.com/projectwarden/warden/policy/fixture"
	xdsclient "github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/translate"
)

// The end-to-end scale run (issues 4 and 5): 5,000 HTTPProxies. 1,000 TLS roots in
// namespace "roots" (every 10th with a certificate from "certs" delegated to "roots", the
// others with a Secret in "roots"), each including 4 children spread over 100 team
// namespaces; 2 routes per child; a Service and an EndpointSlice (2 ready endpoints) per
// child.
const (
	bigRoots     = 1000
	bigIncludes  = 4
	bigTeamNS    = 100
	bigChildren  = bigRoots * bigIncludes
	routeChanges = 20
	// pollEvery is the pause between two status Lists and between two RSS samples.
	pollEvery = 100 * time.Millisecond
)

func bigChild(i int) (ns, name string) {
	return fmt.Sprintf("team-%03d", i%bigTeamNS), fmt.Sprintf("child-%04d", i)
}

func bigFQDN(r int) string { return fmt.Sprintf("app-%04d.example.com", r) }

func bigRoutes(svc, suffix string) []contourv1.Route {
	p := fx.Proxy("x", "x").Route(svc, 80, fx.Prefix("/a"+suffix)).Route(svc, 80, fx.Prefix("/b")).Obj()
	return p.Spec.Routes
}

// scaleOrder is the order in which the scale run creates the HTTPProxies.
type scaleOrder string

const (
	// rootsFirst creates the roots, then the children (in the order of their roots): the
	// order of a GitOps sync or `kubectl apply -f` of a directory, which sort by namespace
	// and name ("roots" before "team-*"). Each root is invalid (its includes are missing)
	// until its children exist, and each child is valid from its creation: about 6,000
	// status writes, spread over the creates.
	rootsFirst scaleOrder = "roots-first"
	// childrenFirst creates every child, then the roots: each child is orphaned until its
	// root exists, so 4,000 children change status twice (9,000 writes, 5,000 of them
	// during the last 1,000 creates). The hardest order for status.
	childrenFirst scaleOrder = "children-first"
)

// bigObjects returns the namespaces, the other supporting objects, and the HTTPProxies in
// the given order.
func bigObjects(b *testing.B, order scaleOrder) (namespaces, setup, proxies []client.Object) {
	ca, err := framework.NewCA("scale-certs")
	if err != nil {
		b.Fatal(err)
	}
	tlsSecret := func(ns, name string) *corev1.Secret {
		crt, key, err := ca.Issue()
		if err != nil {
			b.Fatal(err)
		}
		s := fx.Secret(ns, name)
		s.Type = corev1.SecretTypeTLS
		s.Data = map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}
		return s
	}
	namespaces = append(namespaces, fx.Namespace("roots"), fx.Namespace("certs"))
	for i := range bigTeamNS {
		namespaces = append(namespaces, fx.Namespace(fmt.Sprintf("team-%03d", i)))
	}
	delegation := fx.Delegation("certs", "to-roots", "unused", "roots")
	delegation.Spec.Delegations = nil
	ready := true
	var roots []client.Object
	for r := range bigRoots {
		root := fx.Proxy("roots", fmt.Sprintf("root-%04d", r)).FQDN(bigFQDN(r))
		if r%10 == 0 {
			name := fmt.Sprintf("cert-%04d", r)
			setup = append(setup, tlsSecret("certs", name))
			delegation.Spec.Delegations = append(delegation.Spec.Delegations,
				contourv1.CertificateDelegation{SecretName: name, TargetNamespaces: []string{"roots"}})
			root.TLS("certs/" + name)
		} else {
			name := fmt.Sprintf("tls-%04d", r)
			setup = append(setup, tlsSecret("roots", name))
			root.TLS(name)
		}
		for c := range bigIncludes {
			i := r*bigIncludes + c
			ns, name := bigChild(i)
			svc := "svc-" + name
			port := int32(80)
			service := fx.Service(ns, svc, 80)
			// Headless: envtest's service IP range cannot hold 4,000 ClusterIPs, and
			// Warden routes to the EndpointSlices either way.
			service.Spec.ClusterIP = corev1.ClusterIPNone
			setup = append(setup, service, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Port: &port}},
				Endpoints: []discoveryv1.Endpoint{
					{Addresses: []string{fmt.Sprintf("10.%d.%d.1", i/250, i%250)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
					{Addresses: []string{fmt.Sprintf("10.%d.%d.2", i/250, i%250)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
				},
			})
			child := fx.Proxy(ns, name).Obj()
			child.Spec.Routes = bigRoutes(svc, "")
			proxies = append(proxies, child)
			root.Include(ns, name, fx.Prefix(fmt.Sprintf("/c%d", c)))
		}
		roots = append(roots, root.Obj())
	}
	setup = append(setup, delegation)
	if order == rootsFirst {
		return namespaces, setup, append(roots, proxies...)
	}
	return namespaces, setup, append(proxies, roots...)
}

// wardenProc is `warden serve` run as a subprocess, with its RSS sampled.
type wardenProc struct {
	cmd     *exec.Cmd
	exited  chan error
	peakRSS atomic.Int64 // KiB, VmRSS sampled every pollEvery
	peakAt  atomic.Int64 // unix nanoseconds of the sample that set peakRSS
	peakMix atomic.Value // string: RssAnon/RssFile of that sample
	hwm     atomic.Int64 // KiB, the last VmHWM read
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// procStatus reads VmRSS and VmHWM (KiB) of pid.
func procStatus(pid int) (rss, hwm int64, err error) {
	m, err := procStatusFields(pid)
	return m["VmRSS"], m["VmHWM"], err
}

// procStatusFields reads the kB fields of /proc/pid/status (VmRSS, VmHWM, RssAnon,
// RssFile...).
func procStatusFields(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		out[k], _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	}
	return out, sc.Err()
}

func startWardenProc(b *testing.B, bin string, args []string, logPath string) *wardenProc {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := &wardenProc{cmd: cmd, exited: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		log.Close()
		w.exited <- err
		close(w.exited)
	}()
	go func() {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			m, err := procStatusFields(cmd.Process.Pid)
			if err != nil {
				return // exited
			}
			if rss := m["VmRSS"]; rss > w.peakRSS.Load() {
				w.peakRSS.Store(rss)
				w.peakAt.Store(time.Now().UnixNano())
				w.peakMix.Store(fmt.Sprintf("anonymous %.0f MiB, file-backed (the binary) %.0f MiB", mib(m["RssAnon"]), mib(m["RssFile"])))
			}
			w.hwm.Store(m["VmHWM"])
			select {
			case <-t.C:
			case <-w.exited:
				return
			}
		}
	}()
	return w
}

// cpuSeconds is the user+system CPU time pid has used.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14
	k, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
	return (u + k) / 100                  // USER_HZ is 100 on Linux
}

// stop sends SIGTERM and waits for the process to exit (SIGKILL after 30s).
func (w *wardenProc) stop() error {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		return errors.New("warden did not exit within 30s of SIGTERM; killed")
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// BenchmarkScale is the end-to-end scale run: 5,000 HTTPProxies created through the real API
// server and Warden's webhooks as fast as the API server takes them, with Warden (`warden
// serve`, a subprocess so its memory is its own) writing status and serving an Envoy-like
// ADS client. It reports the time from the last create to final status everywhere and to a
// complete xDS configuration, the latency of one route change, the time a restarted Warden
// takes to serve a new client, Warden's peak RSS and the creation rate. Targets (issue 4/5)
// are logged, not enforced. Run with -benchtime=1x; WARDEN_SCALE_DIR keeps Warden's logs;
// WARDEN_SCALE_PPROF=1 also saves CPU profiles of the creates (until status and xDS settle)
// and of the restart, and heap profiles after the creates and once settled, in that
// directory (see scaleProfiler); WARDEN_SCALE_MEMORY_LIMIT (a quantity) runs Warden with
// that --memory-limit; WARDEN_SCALE_ARGS adds flags (space-separated).
//
// It runs once per creation order (sub-benchmarks roots-first and children-first, see
// scaleOrder): the order decides how many status writes the API server must take.
func BenchmarkScale(b *testing.B) {
	for _, order := range []scaleOrder{rootsFirst, childrenFirst} {
		b.Run(string(order), func(b *testing.B) {
			for b.Loop() {
				runScale(b, order)
			}
		})
	}
}

// scaleRun is one run of BenchmarkScale: where Warden runs, and what the phases share.
type scaleRun struct {
	b       *testing.B
	ctx     context.Context
	order   scaleOrder
	bin     string   // the warden binary
	args    []string // `warden serve` and its flags
	logPath string
	xdsAddr string
	url     string // the webhook server
	ca      *framework.CA
	prof    *scaleProfiler
	// clientLog is the first ADS client's log (xds-client.log in the scale directory).
	clientLog logr.Logger
}

// scaleResult is what a run measured.
type scaleResult struct {
	statusSecs, xdsSecs, p50, p99, restartSecs, restartExecSecs, rate float64
	peakKiB                                                           int64
}

func runScale(b *testing.B, order scaleOrder) {
	ctx := b.Context()
	dir := os.Getenv("WARDEN_SCALE_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir = filepath.Join(dir, string(order)) // one folder per order
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	env := framework.Start(b, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	r := newScaleRun(ctx, b, dir, env.KubeconfigPath(), env.Config())
	r.order = order
	w := startWardenProc(b, r.bin, r.args, r.logPath)
	b.Cleanup(func() { _ = w.stop() })

	c := env.Client()
	if err := framework.RegisterWebhooks(ctx, c, r.url, r.ca.PEM); err != nil {
		b.Fatal(err)
	}
	if err := framework.WaitEffective(ctx, c, func(ctx context.Context) (int, string, error) {
		return framework.HTTPSGet(ctx, r.ca.PEM, r.url+"/readyz")
	}); err != nil {
		b.Fatalf("%v (log: %s)", err, r.logPath)
	}
	b.Logf("warden ready (pid %d, RSS %.0f MiB), log %s", w.cmd.Process.Pid, mib(w.peakRSS.Load()), r.logPath)

	// The Envoy-like client, connected from the start.
	adsCtx, stopADS := context.WithCancel(ctx)
	defer stopADS()
	ads, err := xdsclient.Dial(adsCtx, xdsclient.Options{Address: r.xdsAddr, NodeID: "envoy-scale", Cluster: "scale", Mode: xdsclient.SotW})
	if err != nil {
		b.Fatal(err)
	}
	r.clientLog = clientLog(b, filepath.Join(dir, "xds-client.log"))
	go func() { _ = ads.Run(logr.NewContext(adsCtx, r.clientLog)) }()

	rest := env.Config()
	rest.QPS, rest.Burst = 2000, 4000 // the benchmark's client, not Warden's
	fast, err := client.NewWithWatch(rest, client.Options{Scheme: env.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	var res scaleResult
	lastCreate := r.scaleUp(fast, w, ads, &res)

	// The ADS client stands in for Envoy, which has no garbage collector. Decoding the
	// ~540 KB ingress_http that every change re-sends allocates ~10 MB in this process,
	// whose live heap is ~35 MB: at the default GOGC a collection ran every few changes
	// and took a third of the client's CPU while changes were timed. So this process
	// collects before the changes (as testing.B does before a benchmark) and not during
	// them; Warden's own GC is untouched. The client logs each response's decoding time.
	runtime.GC()
	gc := debug.SetGCPercent(-1)
	stopCPU := r.prof.cpu(ctx, "changes")
	stopSelf := r.prof.self("changes")
	lat, received, decoding := r.routeChanges(fast, ads)
	stopSelf()
	stopCPU()
	debug.SetGCPercent(gc)
	res.p50, res.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	b.Logf("route change at the client: p50 %.1f ms, p99 %.1f ms (all: %v)", res.p50, res.p99, lat)
	b.Logf("route change, of which received (Warden, the API server's watch, the wire): p50 %.1f ms, p99 %.1f ms; the client's decoding: p50 %.1f ms, p99 %.1f ms",
		percentile(received, 0.5), percentile(received, 0.99), percentile(decoding, 0.5), percentile(decoding, 0.99))
	b.ReportMetric(percentile(received, 0.99), "change-received-p99-ms")
	b.ReportMetric(percentile(decoding, 0.99), "change-decoding-p99-ms")
	logMetrics(ctx, b, r.ca.PEM, r.url, "after the route changes")

	// (e) peak RSS of the first process, then (d) restart.
	_, hwm, _ := procStatus(w.cmd.Process.Pid)
	peak := w.peakRSS.Load()
	res.peakKiB = max(peak, hwm)
	stopADS()
	stopStart := time.Now()
	if err := w.stop(); err != nil {
		b.Logf("warden's exit: %v", err)
	}
	b.Logf("warden stopped in %s (SIGTERM to exit)", time.Since(stopStart).Round(time.Millisecond))
	w2 := r.restart(&res)
	b.Logf("warden RSS: peak %.0f MiB (%s) sampled %.1f s after the last create, VmHWM %.0f MiB; restarted process peak %.0f MiB",
		mib(peak), w.peakMix.Load(), time.Unix(0, w.peakAt.Load()).Sub(lastCreate).Seconds(), mib(hwm), mib(w2.peakRSS.Load()))
	res.report(b)
}

// clientLog is a logger that writes what the ADS client does (every response accepted, at
// V(2)) to path, with millisecond timestamps, to compare with Warden's log.
func clientLog(b *testing.B, path string) logr.Logger {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	var mu sync.Mutex
	return funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(f, "%s %s %s\n", time.Now().UTC().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{Verbosity: 2})
}

// newScaleRun builds Warden and prepares its certificates, configuration and flags.
func newScaleRun(ctx context.Context, b *testing.B, dir, kubeconfig string, api *rest.Config) *scaleRun {
	r := &scaleRun{b: b, ctx: ctx, bin: filepath.Join(dir, "warden"), logPath: filepath.Join(dir, "warden.log")}
	build := exec.CommandContext(ctx, "go", "build", "-o", r.bin, "./cmd/warden")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		b.Fatal(err)
	}
	var err error
	if r.ca, err = framework.NewCA("warden-scale-ca"); err != nil {
		b.Fatal(err)
	}
	if err := r.ca.WriteServing(certDir); err != nil {
		b.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfgPath, []byte("httpproxy:\n  rootNamespaces: [roots]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	r.xdsAddr = fmt.Sprintf("127.0.0.1:%d", freePort(b))
	r.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	r.args = []string{"serve", "--kubeconfig", kubeconfig, "--config", cfgPath, "--dev-logs",
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(certDir, "tls.crt"), "--tls-private-key-file", filepath.Join(certDir, "tls.key"),
		"--xds-address", r.xdsAddr, "--xds-insecure"}
	r.prof = newScaleProfiler(b, dir, api)
	r.args = append(r.args, r.prof.args()...)
	if extra := strings.Fields(os.Getenv("WARDEN_SCALE_ARGS")); len(extra) > 0 {
		// More flags for `warden serve`, to compare settings (e.g. --status-workers 64).
		r.args = append(r.args, extra...)
		b.Logf("warden runs with %v", extra)
	}
	if limit := os.Getenv("WARDEN_SCALE_MEMORY_LIMIT"); limit != "" {
		// Warden's soft memory limit, as a deployment would set it (see --memory-limit).
		r.args = append(r.args, "--memory-limit", limit)
		b.Logf("warden runs with --memory-limit %s", limit)
	}
	_ = os.Remove(r.logPath)
	return r
}

// scaleUp creates everything, then waits for (a) final status and (b) a complete
// configuration at the client, concurrently, both from the last create, which it returns.
func (r *scaleRun) scaleUp(c client.WithWatch, w *wardenProc, ads *xdsclient.Client, res *scaleResult) time.Time {
	b, ctx := r.b, r.ctx
	namespaces, setup, proxies := bigObjects(b, r.order)
	t0 := time.Now()
	if err := createAll(ctx, c, namespaces, 1); err != nil {
		b.Fatal(err)
	}
	if err := createAll(ctx, c, setup, 16); err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d namespaces and %d Secrets/Services/EndpointSlices/delegation in %s", len(namespaces), len(setup), time.Since(t0).Round(time.Millisecond))

	start := time.Now()
	stopCPU := r.prof.cpu(ctx, "creates")
	if err := createAll(ctx, c, proxies, 16); err != nil {
		b.Fatal(err)
	}
	lastCreate := time.Now()
	r.prof.heap(ctx, "after-creates")
	populate := lastCreate.Sub(start)
	res.rate = float64(len(proxies)) / populate.Seconds()
	b.Logf("created %d HTTPProxies (%s) through the webhooks in %s (%.0f/s); everything in %s; warden RSS %.0f MiB",
		len(proxies), r.order, populate.Round(time.Millisecond), res.rate, lastCreate.Sub(t0).Round(time.Millisecond), mib(w.peakRSS.Load()))
	b.Logf("warden CPU so far: %.1f s (2 cores shared with the API server, etcd and this benchmark)", cpuSeconds(w.cmd.Process.Pid))

	var wg sync.WaitGroup
	res.statusSecs, res.xdsSecs = -1, -1
	wg.Go(func() { res.statusSecs = waitAllValid(ctx, b, c, lastCreate, len(proxies)) })
	wg.Go(func() { res.xdsSecs = waitComplete(ctx, b, ads, lastCreate, "first client") })
	wg.Wait()
	stopCPU()
	r.prof.heap(ctx, "settled")
	b.Logf("warden CPU after status and xDS settled: %.1f s", cpuSeconds(w.cmd.Process.Pid))
	logMetrics(ctx, b, r.ca.PEM, r.url, "after the scale-up")
	return lastCreate
}

// routeChanges (c) patches one child's route at a time and returns how long each took to
// reach the client, how long after the patch the response that carried it came off the
// stream, and how long the client took to decode it.
func (r *scaleRun) routeChanges(c client.WithWatch, ads *xdsclient.Client) (lat, received, decoding []time.Duration) {
	b, ctx := r.b, r.ctx
	r.logWatchedChanges(c)
	for j := range routeChanges {
		i := (j * 197) % bigChildren
		ns, name := bigChild(i)
		root, inc := i/bigIncludes, i%bigIncludes
		suffix := fmt.Sprintf("-v%d", j+1)
		body := fmt.Sprintf(`{"spec":{"routes":[{"conditions":[{"prefix":"/a%s"}],"services":[{"name":"svc-%s","port":80}]},{"conditions":[{"prefix":"/b"}],"services":[{"name":"svc-%s","port":80}]}]}}`, suffix, name, name)
		if err := c.Patch(ctx, &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
			client.RawPatch("application/merge-patch+json", []byte(body))); err != nil {
			b.Fatal(err)
		}
		patched := time.Now()
		r.clientLog.Info("patched", "httpproxy", ns+"/"+name)
		want, rc := fmt.Sprintf("/c%d/a%s", inc, suffix), translate.HTTPSRouteConfigName(bigFQDN(root))
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s, err := ads.WaitFor(wctx, func(s xdsclient.State) bool { return s.HasRoute(rc, want) })
		cancel()
		if err != nil {
			b.Fatalf("route change %d (%s/%s -> %s in %s) not seen: %v", j, ns, name, want, rc, err)
		}
		lat = append(lat, time.Since(patched))
		received = append(received, s.LastReceived.Sub(patched))
		decoding = append(decoding, s.LastDecoding)
		r.clientLog.Info("route change seen", "httpproxy", ns+"/"+name, "after", lat[len(lat)-1])
		// The change also rewrites the vhost's HTTPS redirect in ingress_http (~540 KB),
		// which Warden sends after https/<fqdn>. Each change is timed from a settled client:
		// one that is still decoding the last change's ingress_http would take the next
		// change with it, and time the previous change's work.
		wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		_, err = ads.WaitFor(wctx, func(s xdsclient.State) bool { return s.HasRoute(translate.HTTPRouteConfigName, want) })
		cancel()
		if err != nil {
			b.Fatalf("route change %d (%s/%s -> %s) not seen in %s: %v", j, ns, name, want, translate.HTTPRouteConfigName, err)
		}
	}
	return lat, received, decoding
}

// logWatchedChanges logs, in the client's log, when a watch of the benchmark's own sees
// each HTTPProxy change of a generation above 1 (the route changes): set beside "patched"
// and Warden's log, it tells the API server's watch delivery from Warden's.
func (r *scaleRun) logWatchedChanges(c client.WithWatch) {
	// From the current version: no initial events for the 5,000 stored.
	var list contourv1.HTTPProxyList
	if err := c.List(r.ctx, &list, client.Limit(1)); err != nil {
		r.b.Logf("listing HTTPProxies: %v", err)
		return
	}
	w, err := c.Watch(r.ctx, &contourv1.HTTPProxyList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		r.b.Logf("watching HTTPProxies: %v", err)
		return
	}
	r.b.Cleanup(w.Stop)
	go func() {
		seen := map[string]int64{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*contourv1.HTTPProxy)
			if !ok || p.Generation < 2 || seen[p.Namespace+"/"+p.Name] >= p.Generation {
				continue
			}
			seen[p.Namespace+"/"+p.Name] = p.Generation
			r.clientLog.Info("watch saw the change", "httpproxy", p.Namespace+"/"+p.Name, "generation", p.Generation)
		}
	}()
}

// restart (d) starts Warden again with every object stored and measures how long a new
// client takes to hold the complete configuration. It returns the new process.
func (r *scaleRun) restart(res *scaleResult) *wardenProc {
	b, ctx := r.b, r.ctx
	restartAt := time.Now()
	w2 := startWardenProc(b, r.bin, r.args, r.logPath)
	b.Cleanup(func() { _ = w2.stop() })
	stopCPU := r.prof.cpu(ctx, "restart")
	for {
		conn, err := net.DialTimeout("tcp", r.xdsAddr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Since(restartAt) > 60*time.Second {
			b.Fatalf("the restarted warden's xDS port does not accept: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval for the port, not a measurement
	}
	accepting := time.Now()
	adsCtx, stopADS := context.WithCancel(ctx)
	b.Cleanup(stopADS)
	ads, err := xdsclient.Dial(adsCtx, xdsclient.Options{Address: r.xdsAddr, NodeID: "envoy-scale-2", Cluster: "scale", Mode: xdsclient.SotW})
	if err != nil {
		b.Fatal(err)
	}
	connected := time.Now()
	go func() { _ = ads.Run(adsCtx) }()
	res.restartSecs = waitComplete(ctx, b, ads, connected, "new client after restart")
	res.restartExecSecs = connected.Sub(restartAt).Seconds() + res.restartSecs
	restartCPU := cpuSeconds(w2.cmd.Process.Pid)
	stopCPU()
	// Warden takes up xDS connections only once its first complete configuration is
	// published: until then the kernel accepts the TCP connection (the port is bound at
	// start) and the client waits for the gRPC handshake. "After connecting" is from the
	// end of that handshake; "after exec" is the whole restart.
	b.Logf("restart: port accepting %s after exec, gRPC connection established %s later, complete config %.3f s after connecting (%.3f s after exec)",
		accepting.Sub(restartAt).Round(time.Millisecond), connected.Sub(accepting).Round(time.Millisecond), res.restartSecs,
		res.restartExecSecs)
	b.Logf("restarted warden's CPU to a complete config: %.1f s", restartCPU)
	logMetrics(ctx, b, r.ca.PEM, r.url, "after the restart")
	return w2
}

// report logs the targets missed and reports the metrics.
func (res scaleResult) report(b *testing.B) {
	targets := []struct {
		what        string
		got, target float64
	}{
		{"final status everywhere (s)", res.statusSecs, 5},
		{"complete xDS config (s)", res.xdsSecs, 1},
		{"route change p99 (ms)", res.p99, 50},
		{"restart to complete config (s)", res.restartSecs, 0.5},
		{"peak RSS (MiB)", mib(res.peakKiB), 264},
	}
	for _, t := range targets {
		if t.got < 0 || t.got > t.target {
			b.Logf("TARGET MISSED: %s = %.3f, target %.3f", t.what, t.got, t.target)
		}
	}
	b.ReportMetric(res.statusSecs, "status-s")
	b.ReportMetric(res.xdsSecs, "xds-complete-s")
	b.ReportMetric(res.p50, "change-p50-ms")
	b.ReportMetric(res.p99, "change-p99-ms")
	b.ReportMetric(res.restartSecs, "restart-complete-s")
	b.ReportMetric(res.restartExecSecs, "restart-exec-complete-s")
	b.ReportMetric(mib(res.peakKiB), "peak-rss-MiB")
	b.ReportMetric(res.rate, "create-proxies/s")
}

// waitAllValid waits until all n HTTPProxies are valid and returns the seconds from since
// to the event that made the last one valid, or -1 after 5 minutes. It Lists once and then
// watches: polling with back-to-back Lists of 5,000 objects (0.75 s each on this machine)
// loaded the API server whose status writes it was measuring.
func waitAllValid(ctx context.Context, b *testing.B, c client.WithWatch, since time.Time, n int) float64 {
	ctx, cancel := context.WithDeadline(ctx, since.Add(5*time.Minute))
	defer cancel()
	lastLog := time.Now()
	for ctx.Err() == nil {
		var list contourv1.HTTPProxyList
		if err := c.List(ctx, &list); err != nil {
			b.Logf("status: listing: %v", err)
			continue
		}
		st := validCount{states: map[string]string{}}
		for i := range list.Items {
			st.set(&list.Items[i])
		}
		w, err := c.Watch(ctx, &contourv1.HTTPProxyList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			b.Logf("status: watching: %v", err)
			continue
		}
		for open := true; open; {
			if st.valid == n {
				w.Stop()
				d := time.Since(since).Seconds()
				b.Logf("status: all %d HTTPProxies valid %.3f s after the last create", n, d)
				return d
			}
			if time.Since(lastLog) > time.Second {
				b.Logf("status: %.1f s after the last create, %d of %d valid", time.Since(since).Seconds(), st.valid, n)
				lastLog = time.Now()
			}
			var ev watch.Event
			if ev, open = <-w.ResultChan(); !open {
				break // closed (timeout, ctx): List and watch again
			}
			p, ok := ev.Object.(*contourv1.HTTPProxy)
			switch {
			case !ok:
				b.Logf("status: watch event %s %T", ev.Type, ev.Object)
			case ev.Type == watch.Deleted:
				st.set(&contourv1.HTTPProxy{ObjectMeta: p.ObjectMeta})
			default:
				st.set(p)
			}
		}
		w.Stop()
	}
	b.Logf("status: not all %d HTTPProxies valid after 5 minutes", n)
	return -1
}

// validCount keeps the currentStatus of every HTTPProxy seen and how many are valid.
type validCount struct {
	states map[string]string
	valid  int
}

func (v *validCount) set(p *contourv1.HTTPProxy) {
	k := p.Namespace + "/" + p.Name
	if v.states[k] == "valid" {
		v.valid--
	}
	v.states[k] = p.Status.CurrentStatus
	if p.Status.CurrentStatus == "valid" {
		v.valid++
	}
}

// scaleComplete reports whether s holds the whole scale configuration, and what is missing.
func scaleComplete(s xdsclient.State) (bool, string) {
	chains := 0
	if l, ok := s.Listeners["ingress_https"].(*listenerv3.Listener); ok {
		chains = len(l.GetFilterChains())
	}
	what := fmt.Sprintf("%d HTTPS filter chains, %d routes, %d clusters, %d assignments, %d secrets",
		chains, len(s.Routes), len(s.Clusters), len(s.Endpoints), len(s.Secrets))
	if chains != bigRoots || len(s.Clusters) != bigChildren || len(s.Endpoints) != bigChildren ||
		len(s.Secrets) != bigRoots || len(s.Routes) != bigRoots+1 {
		return false, what
	}
	if err := xdsclient.CheckComplete(s); err != nil {
		return false, what + "; " + err.Error()
	}
	return true, what
}

// waitComplete waits until the client holds the whole configuration and returns the
// seconds since since, or -1 after 5 minutes.
func waitComplete(ctx context.Context, b *testing.B, ads *xdsclient.Client, since time.Time, who string) float64 {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	lastLog := time.Now()
	s, err := ads.WaitFor(wctx, func(s xdsclient.State) bool {
		ok, what := scaleComplete(s)
		if !ok && time.Since(lastLog) > 2*time.Second {
			b.Logf("xds (%s): %.1f s: %s", who, time.Since(since).Seconds(), what)
			lastLog = time.Now()
		}
		return ok
	})
	_, what := scaleComplete(s)
	if err != nil {
		b.Logf("xds (%s): not complete: %v; %s", who, err, what)
		return -1
	}
	d := time.Since(since).Seconds()
	if !s.HasRoute(translate.HTTPSRouteConfigName(bigFQDN(1)), "/c0/a") { // root 1's children are never patched
		b.Logf("xds (%s): route /c0/a not found in https/%s", who, bigFQDN(1))
	}
	b.Logf("xds (%s): complete %.3f s: %s; responses %v", who, d, what, s.Responses)
	return d
}

// logMetrics logs Warden's pipeline, status and xDS metrics.
func logMetrics(ctx context.Context, b *testing.B, caPEM []byte, url, when string) {
	code, body, err := framework.HTTPSGet(ctx, caPEM, url+"/metrics")
	if err != nil || code != 200 {
		b.Logf("metrics %s: %d %v", when, code, err)
		return
	}
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		memory := strings.HasPrefix(l, "go_memstats_") && (strings.Contains(l, "heap") || strings.Contains(l, "sys_bytes") ||
			strings.Contains(l, "stack_inuse") || strings.Contains(l, "next_gc"))
		if (strings.HasPrefix(l, "warden_") || memory || strings.HasPrefix(l, "go_goroutines") ||
			strings.HasPrefix(l, "process_resident_memory")) && !strings.Contains(l, "_bucket{") {
			lines = append(lines, l)
		}
	}
	b.Logf("warden metrics %s:\n%s", when, strings.Join(lines, "\n"))
}
