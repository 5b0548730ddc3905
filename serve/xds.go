package serve

import (
	"context"
	"net/http"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/projectwarden/warden/controller"
	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy"
	"github.com/projectwarden/warden/watch"
	"github.com/projectwarden/warden/xds"
	xdsserver "github.com/projectwarden/warden/xds/server"
	"github.com/projectwarden/warden/xds/translate"
)

// XDSOptions configure the xDS side of `warden serve`.
type XDSOptions struct {
	// Server is the gRPC server (address, mTLS files or Insecure).
	Server xdsserver.Options
	// Translate sets listener ports and TLS parameters.
	Translate translate.Options
	// Started, if set, receives the xDS server once it listens.
	Started func(*xdsserver.Server)
}

// startXDS adds the routing pipeline and the xDS server to mgr; both run on every replica.
// The pipeline's first build waits until the informers have synced, so an Envoy is never
// served a configuration built from a partial view of the cluster; and the xDS server
// starts serving only once that first configuration is published (see serveWhenPublished).
func startXDS(ctx context.Context, mgr manager.Manager, d *policy.Decider, feed *watch.Feed, live client.Client, reg prometheus.Registerer, verdicts *controller.Verdicts, o Options, log logr.Logger) (p *controller.Pipeline, debugXDS http.Handler, err error) {
	snapshots := xds.NewCache(log.WithName("xds"))
	settings := o.Config.PolicySettings()
	mo := model.Options{DisablePermitInsecure: settings.DisablePermitInsecure}
	if f := settings.FallbackCertificate; f != nil {
		mo.FallbackCertificate = model.Key{Namespace: f.Namespace, Name: f.Name}
	}
	callbacks, err := xds.NewCallbacks(log.WithName("xds"), reg)
	if err != nil {
		return nil, nil, err
	}
	debugXDS = callbacks.DebugHandler()
	pub := xds.NewPublisher(snapshots, o.XDS.Translate)
	pub.OnPublish = func(map[resource.Type]string) { callbacks.Published() }
	if err := pub.RegisterMetrics(reg); err != nil {
		return nil, nil, err
	}
	p, err = controller.New(d, live, pub, controller.Options{Model: mo, Registerer: reg, Verdicts: verdicts})
	if err != nil {
		return nil, nil, err
	}
	if err := p.Watch(ctx, mgr.GetCache()); err != nil {
		return nil, nil, err
	}
	srv, err := xdsserver.New(snapshots, callbacks.Funcs(), o.XDS.Server)
	if err != nil {
		return nil, nil, err
	}
	if o.XDS.Started != nil {
		o.XDS.Started(srv)
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error { return serveWhenPublished(ctx, p, srv) })); err != nil {
		return nil, nil, err
	}
	return p, debugXDS, mgr.Add(everyReplica(func(ctx context.Context) error {
		if !feed.WaitForSync(ctx) {
			return nil
		}
		return p.Start(ctx)
	}))
}

// serveWhenPublished serves xDS once the pipeline has published its first configuration.
// Until then the listening socket is bound (New binds it) but connections are not taken
// up: an Envoy that connects early waits in the listen queue and then receives the whole
// configuration at once, rather than holding an open stream with nothing to serve; an
// Envoy keeps its last configuration, and retries, while it cannot reach a control plane.
func serveWhenPublished(ctx context.Context, p *controller.Pipeline, srv *xdsserver.Server) error {
	select {
	case <-p.Published():
	case <-ctx.Done():
		return nil
	}
	logr.FromContextOrDiscard(ctx).Info("first configuration published: serving xDS")
	return srv.Run(ctx)
}
