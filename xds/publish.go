// Package xds serves Warden's routing model to Envoy fleets: translate (model → Envoy
// resources), server (gRPC ADS with mTLS reload), bootstrap, client (an Envoy-like ADS
// client for tests and `warden xds dump`), and this package's Publisher, which turns each
// new model into the snapshot every Envoy receives.
//
// The package has no API stability guarantee.
package xds

import (
	"context"
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/xds/server"
	"github.com/projectwarden/warden/xds/translate"
)

// NodeGroup is the one snapshot key: every Envoy receives the same configuration, as in
// Contour, whatever its node id.
const NodeGroup = "warden"

// constantHash maps every node to NodeGroup.
type constantHash struct{}

func (constantHash) ID(*corev3.Node) string { return NodeGroup }

// NewCache returns the snapshot cache the xDS server serves from: ADS ordering, one
// snapshot for all nodes.
func NewCache(log logr.Logger) cachev3.SnapshotCache {
	return cachev3.NewSnapshotCache(server.ADS, constantHash{}, server.NewLogger(log))
}

// Publisher translates models and sets them as the served snapshot.
type Publisher struct {
	cache cachev3.SnapshotCache
	opts  translate.Options
	// OnPublish, if set, is called after each snapshot is set, with its versions by type.
	OnPublish func(versions map[resource.Type]string)

	build     prometheus.Histogram
	published prometheus.Counter
}

// RegisterMetrics records snapshot build time and published snapshots in reg.
func (p *Publisher) RegisterMetrics(reg prometheus.Registerer) error {
	p.build = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "warden_xds_snapshot_build_duration_seconds",
		Help:    "Time to translate the routing model into Envoy resources and set the snapshot.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	p.published = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "warden_xds_snapshots_total",
		Help: "Snapshots published to the xDS cache (each one is pushed to every connected Envoy whose versions differ).",
	})
	for _, c := range []prometheus.Collector{p.build, p.published} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// NewPublisher returns a Publisher into cache.
func NewPublisher(cache cachev3.SnapshotCache, o translate.Options) *Publisher {
	return &Publisher{cache: cache, opts: o}
}

// Publish translates m and sets the snapshot. Versions are content hashes, so an unchanged
// model republished changes nothing for connected Envoys, and every replica serves the same
// versions. A translation or consistency failure is returned and nothing is published:
// Envoys keep the last good configuration.
func (p *Publisher) Publish(ctx context.Context, m *model.Model) error {
	start := time.Now()
	res, err := translate.Translate(m, p.opts)
	if err != nil {
		return err
	}
	snap := &cachev3.Snapshot{}
	versions := map[resource.Type]string{}
	for typ, items := range res.ByType() {
		v := res.Version(typ)
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(v, items)
		versions[typ] = v
	}
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("inconsistent snapshot, not published: %w", err)
	}
	if err := p.cache.SetSnapshot(ctx, NodeGroup, snap); err != nil {
		return err
	}
	if p.build != nil {
		p.build.Observe(time.Since(start).Seconds())
		p.published.Inc()
	}
	if p.OnPublish != nil {
		p.OnPublish(versions)
	}
	return nil
}
