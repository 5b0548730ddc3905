// Package serve runs Warden's long-running components in one process under a
// controller-runtime manager: the informers that feed the policy inventory and the HTTPS
// server with the admission webhooks, health and metrics on every replica; the status
// writer only on the leader (Lease election). The xDS server joins here as it is built.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
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
	// REST connects to the API server. Required. Its QPS and Burst bound Warden's own
	// requests (status writes, live reads before a denial); the caller sets them.
	REST *rest.Config
	// Server configures the HTTPS server; Handlers, Ready and Registry are filled in by Run.
	Server server.Options
	// WebhookTimeout bounds each admission decision. Default webhook.DefaultTimeout.
	WebhookTimeout time.Duration
	// WriteStatus enables the status writer. Default false (admission only).
	WriteStatus bool
	// LeaderElection makes replicas elect one status writer through a Lease named
	// "warden-status" in LeaderElectionNamespace. Without it every replica with
	// WriteStatus writes (fine for one replica).
	LeaderElection          bool
	LeaderElectionNamespace string
	// XDS, when set, runs the routing pipeline and the xDS server on every replica.
	XDS *XDSOptions
	// Logger is the root logger. Default: discard.
	Logger logr.Logger
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
	live, err := client.New(o.REST, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating API client: %w", err)
	}
	reg := prometheus.NewRegistry()
	var queue *statusQueue // set before the feed starts delivering events
	var pipeline *controller.Pipeline
	feed := watch.New(mgr.GetCache(), d, watch.Options{OnApplied: func(kind string, k policy.Key) {
		if queue != nil {
			queue.onApplied(ctx, kind, k)
		}
		if pipeline != nil {
			pipeline.OnApplied(kind, k)
		}
	}})
	if o.WriteStatus {
		// Status writes are I/O bound (tens of ms each on a loaded API server): many workers,
		// bounded by the client's QPS.
		writer := status.NewWriter(d.Judge, mgr.GetCache(), status.Options{Client: live, Synced: feed.WaitForSync, Registerer: reg, Workers: 32})
		if err := mgr.Add(writer); err != nil {
			return err
		}
		queue = newStatusQueue(d, writer)
	}
	var debugXDS http.Handler
	if o.XDS != nil {
		if pipeline, debugXDS, err = startXDS(ctx, mgr, d, feed, live, reg, o, log); err != nil {
			return err
		}
	}
	srv, metrics, err := newServer(o, d, feed, live, reg, log, debugXDS)
	if err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(srv.Run)); err != nil { // every replica serves
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
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
