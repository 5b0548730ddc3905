// Package serve runs Warden's long-running components in one process under a
// controller-runtime manager: the informers that feed the policy inventory and the HTTPS
// server with the admission webhooks, health and metrics on every replica; the status
// writer only on the leader (Lease election). The xDS server joins here as it is built.
package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/controller/status"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/watch"
	"github.com/projectwarden/warden/webhook"
	"github.com/projectwarden/warden/webhook/server"
)

// Options configure `warden serve`.
type Options struct {
	// Config is warden.yaml. Required.
	Config *config.Config
	// REST connects to the API server. Required. Its QPS and Burst, if QPS is positive,
	// bound Warden's own requests (status writes, live reads before a denial); the caller
	// sets them (`warden serve` disables the client-side limit by default).
	REST *rest.Config
	// Server configures the HTTPS server; Handlers, Ready and Registry are filled in by Run.
	Server server.Options
	// WebhookTimeout bounds each admission decision. Default webhook.DefaultTimeout.
	WebhookTimeout time.Duration
	// WriteStatus enables the status writer. Default false (admission only).
	WriteStatus bool
	// StatusWorkers is how many status writes may be in flight at once. Default
	// DefaultStatusWorkers.
	StatusWorkers int
	// LeaderElection makes replicas elect one status writer through a Lease named
	// "warden-status" in LeaderElectionNamespace. Without it every replica with
	// WriteStatus writes (fine for one replica).
	LeaderElection          bool
	LeaderElectionNamespace string
	// XDS, when set, runs the routing pipeline and the xDS server on every replica.
	XDS *XDSOptions
	// Logger is the root logger. Default: discard.
	Logger logr.Logger
	// PprofBindAddress, if set, serves net/http/pprof over plain HTTP on that address
	// (controller-runtime's manager.Options.PprofBindAddress). Empty: none. For profiling
	// only; bind it to loopback.
	PprofBindAddress string
	// Started, if set, receives the server once it listens (tests and `make run` use it to
	// learn the address).
	Started func(*server.Server)
}

// Run serves until ctx is done or a component fails.
func Run(ctx context.Context, o Options) error {
	if o.Config == nil || o.REST == nil {
		return errors.New("serve: Config and REST are required")
	}
	log := o.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	ctx = logr.NewContext(ctx, log)
	scheme, err := watch.NewScheme()
	if err != nil {
		return err
	}
	mgr, err := manager.New(o.REST, manager.Options{
		Scheme:                        scheme,
		Cache:                         watch.CacheOptions(scheme),
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: "0"}, // served on the HTTPS server
		HealthProbeBindAddress:        "0",
		PprofBindAddress:              o.PprofBindAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              "warden-status",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		// Runnables (status writer, pipeline, xDS server) get their context from here, not
		// from mgr.Start's: without it their logs are lost.
		BaseContext: func() context.Context { return logr.NewContext(context.Background(), log) },
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	d, err := policy.NewDecider(ctx, o.Config.PolicySettings())
	if err != nil {
		return err
	}
	live, err := client.New(ownConnection(o.REST), client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating API client: %w", err)
	}
	reg := prometheus.NewRegistry()
	// Go runtime and process figures (heap, GC, RSS): what memory at scale is judged by.
	if err := registerAll(reg, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return err
	}
	verdicts := controller.NewVerdicts(d.Judge)
	if err := registerVerdictMetrics(reg, verdicts); err != nil {
		return err
	}
	// The dispatcher's writer and pipeline are set before the feed starts delivering events.
	disp := newDispatcher(d, verdicts)
	feed := watch.New(mgr.GetCache(), d, watch.Options{OnApplied: func(kind string, k policy.Key) {
		disp.onApplied(ctx, kind, k)
	}})
	var debugXDS http.Handler
	if o.XDS != nil {
		if disp.pipeline, debugXDS, err = startXDS(ctx, mgr, d, feed, live, reg, verdicts, o, log); err != nil {
			return err
		}
	}
	if o.WriteStatus {
		so := status.Options{Client: live, Synced: statusSynced(feed, disp.pipeline), Registerer: reg,
			Workers: cmp.Or(o.StatusWorkers, DefaultStatusWorkers)}
		if disp.pipeline != nil {
			so.BeforeWrite = disp.pipeline.WaitForSecretReads
		}
		disp.writer = status.NewWriter(verdicts.Judge, mgr.GetCache(), so)
		if err := mgr.Add(disp.writer); err != nil {
			return err
		}
	}
	srv, metrics, err := newServer(o, d, feed, live, reg, log, debugXDS)
	if err != nil {
		return err
	}
	if err := mgr.Add(everyReplica(srv.Run)); err != nil {
		return err
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		return watchPolicyGeneration(ctx, d.Engine(), metrics)
	})); err != nil {
		return err
	}
	if err := feed.Start(ctx); err != nil {
		return err
	}
	if o.Started != nil {
		o.Started(srv)
	}
	log.Info("Serving", "address", srv.Addr().String(), "writeStatus", o.WriteStatus, "leaderElection", o.LeaderElection)
	return mgr.Start(ctx)
}

// DefaultStatusWorkers is how many status writes may be in flight at once by default.
// Their rate is bounded by this and by the API server's answers rather than by a
// client-side token bucket: when the API server slows down, so do the writes. Writes are
// I/O bound (tens of ms each on a loaded API server), hence many workers.
const DefaultStatusWorkers = 32

// firstBuildWait bounds how long a new status leader waits for the routing pipeline's
// first build before it re-syncs every status (see statusSynced).
const firstBuildWait = 30 * time.Second

// statusSynced is the status writer's Options.Synced: the feed has synced and, with xDS,
// the pipeline has published its first model (or firstBuildWait has passed). The first
// build judges every proxy; the writer's re-sync of every proxy then finds the verdicts
// remembered instead of judging the same proxies at the same time, and after a restart
// the cores go to the configuration Envoys wait for first. The statuses the previous
// leader wrote stay in place meanwhile.
func statusSynced(feed *watch.Feed, p *controller.Pipeline) func(ctx context.Context) bool {
	return func(ctx context.Context) bool {
		if !feed.WaitForSync(ctx) {
			return false
		}
		if p == nil {
			return true
		}
		t := time.NewTimer(firstBuildWait)
		defer t.Stop()
		select {
		case <-p.Published():
		case <-t.C:
		case <-ctx.Done():
			return false
		}
		return true
	}
}

// everyReplica is a runnable that runs on every replica, leader or not. (A bare
// manager.RunnableFunc runs only on the leader when leader election is on.)
type everyReplica func(ctx context.Context) error

// Start runs the function.
func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection is false.
func (f everyReplica) NeedLeaderElection() bool { return false }

// registerVerdictMetrics exports how many judgements the shared verdict cache made and
// how many it saved.
func registerVerdictMetrics(reg prometheus.Registerer, v *controller.Verdicts) error {
	judged := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "warden_verdicts_judged_total",
		Help: "HTTPProxy judgements (Rego evaluations) made for the status writer and the routing pipeline.",
	}, func() float64 { j, _ := v.Stats(); return float64(j) })
	hits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "warden_verdicts_cache_hits_total",
		Help: "HTTPProxy verdicts the status writer and the routing pipeline took from the shared cache instead of judging.",
	}, func() float64 { _, h := v.Stats(); return float64(h) })
	return registerAll(reg, judged, hits)
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

func newServer(o Options, d *policy.Decider, feed *watch.Feed, live client.Client, reg *prometheus.Registry, log logr.Logger, debugXDS http.Handler) (*server.Server, *webhook.Metrics, error) {
	metrics, err := webhook.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	hooks := webhook.Options{Timeout: o.WebhookTimeout, Metrics: metrics, Logger: log.WithName("webhook"),
		Refresher: watch.NewRefresher(live, d)}
	so := o.Server
	so.Handlers = map[string]http.Handler{
		webhook.ValidatePath: webhook.NewValidator(d, hooks),
		webhook.MutatePath:   webhook.NewMutator(d.Mutate, hooks),
	}
	if debugXDS != nil {
		so.Handlers["/debug/xds"] = debugXDS // connected Envoys and their last NACKs
	}
	so.Ready = feed.Ready
	so.Registry = reg
	srv, err := server.New(so)
	return srv, metrics, err
}

// watchPolicyGeneration keeps the policy-set gauge current.
func watchPolicyGeneration(ctx context.Context, e *policy.Engine, m *webhook.Metrics) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		m.SetPolicyGeneration(e.Generation())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ownConnection returns a copy of cfg whose clients open their own connections to the API
// server. client-go shares one HTTP/2 connection between every client of equal TLS
// settings; the status writer's requests (dozens in flight at the end of a bulk create)
// would then share the informers' connection, whose watch events Warden must not receive
// late. A config with its own dialer is never shared.
func ownConnection(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	cfg.Dial = d.DialContext
	return cfg
}
