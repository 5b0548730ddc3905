// Package serve runs Warden's long-running components in one process: the informers that
// feed the policy inventory, and the HTTPS server with the admission webhooks, health and
// metrics. (The controller and the xDS server join here as they are built.)
package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/watch"
	"github.com/projectwarden/warden/webhook"
	"github.com/projectwarden/warden/webhook/server"
)

// Options configure `warden serve`.
type Options struct {
	// Config is warden.yaml. Required.
	Config *config.Config
	// REST connects to the API server. Required.
	REST *rest.Config
	// Server configures the HTTPS server; Handlers, Ready and Registry are filled in by Run.
	Server server.Options
	// WebhookTimeout bounds each admission decision. Default webhook.DefaultTimeout.
	WebhookTimeout time.Duration
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
	informers, err := cache.New(o.REST, watch.CacheOptions(scheme))
	if err != nil {
		return fmt.Errorf("creating informers: %w", err)
	}
	d, err := policy.NewDecider(ctx, o.Config.PolicySettings())
	if err != nil {
		return err
	}
	feed := watch.New(informers, d, watch.Options{})
	reg := prometheus.NewRegistry()
	metrics, err := webhook.NewMetrics(reg)
	if err != nil {
		return err
	}
	live, err := client.New(o.REST, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating API client: %w", err)
	}
	hooks := webhook.Options{Timeout: o.WebhookTimeout, Metrics: metrics, Logger: log.WithName("webhook"),
		Refresher: watch.NewRefresher(live, d)}
	so := o.Server
	so.Handlers = map[string]http.Handler{
		webhook.ValidatePath: webhook.NewValidator(d, hooks),
		webhook.MutatePath:   webhook.NewMutator(d.Mutate, hooks),
	}
	so.Ready = feed.Ready
	so.Registry = reg
	srv, err := server.New(so)
	if err != nil {
		return err
	}
	if err := feed.Start(ctx); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return informers.Start(ctx) })
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error { return watchPolicyGeneration(ctx, d.Engine(), metrics) })
	if o.Started != nil {
		o.Started(srv)
	}
	log.Info("Serving", "address", srv.Addr().String())
	return g.Wait()
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
