package serve

import (
	"context"
	"fmt"
	"net/http"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"
	toolscache "k8s.io/client-go/tools/cache"
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
// served a configuration built from a partial view of the cluster.
func startXDS(ctx context.Context, mgr manager.Manager, d *policy.Decider, feed *watch.Feed, live client.Client, reg prometheus.Registerer, o Options, log logr.Logger) (p *controller.Pipeline, debugXDS http.Handler, err error) {
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
	p, err = controller.New(d, mgr.GetCache(), live, pub, controller.Options{Model: mo, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	inf, err := mgr.GetCache().GetInformer(ctx, &discoveryv1.EndpointSlice{})
	if err != nil {
		return nil, nil, fmt.Errorf("watching EndpointSlices: %w", err)
	}
	onSlice := func(obj any) {
		if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
			p.OnEndpointSlice(s)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(_, n any) { onSlice(n) }, DeleteFunc: onSlice,
	}); err != nil {
		return nil, nil, err
	}
	srv, err := xdsserver.New(snapshots, callbacks.Funcs(), o.XDS.Server)
	if err != nil {
		return nil, nil, err
	}
	if o.XDS.Started != nil {
		o.XDS.Started(srv)
	}
	if err := mgr.Add(srv); err != nil {
		return nil, nil, err
	}
	return p, debugXDS, mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !feed.WaitForSync(ctx) {
			return nil
		}
		return p.Start(ctx)
	}))
}
