// Package xds serves Warden's routing model to Envoy fleets: translate (model → Envoy
// resources), server (gRPC ADS with mTLS reload), bootstrap, client (an Envoy-like ADS
// client for tests and `warden xds dump`), cache (what every Envoy is served), and this
// package's Publisher, which turns each new model into the resources that changed.
//
// The package has no API stability guarantee.
package xds

import (
	"context"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/projectwarden/warden/controller/model"
	xdscache "github.com/projectwarden/warden/xds/cache"
	"github.com/projectwarden/warden/xds/translate"
)

// NewCache returns the cache the xDS server serves from: one configuration for every Envoy,
// whatever its node id, as in Contour. log receives a line per update, at V(1).
func NewCache(log logr.Logger) *xdscache.Cache {
	return xdscache.New(log)
}

// DefaultSplitAbove is Publisher.SplitAbove's default: 64 KiB. At 1,000 TLS vhosts
// ingress_http is ~540 KB and ingress_https ~1 MB; a route configuration of one vhost is
// a few hundred bytes.
const DefaultSplitAbove = 64 << 10

// Publisher translates models and pushes what changed to the cache. It is used by one
// goroutine at a time (the controller's pipeline).
type Publisher struct {
	cache *xdscache.Cache
	tr    *translate.Translator
	// published is what the cache holds: the last translation published; nil before the
	// first.
	published *translate.Resources
	// OnPublish, if set, is called after each publication that changed the cache, with the
	// state-of-the-world versions by type.
	OnPublish func(versions map[resource.Type]string)
	// SplitAbove is the encoded size above which a changed resource is published after
	// the others, in a second cache update; zero means DefaultSplitAbove, negative never.
	// Envoy decodes a whole response before it applies any of it, and a route change also
	// changes ingress_http (every TLS vhost's HTTPS redirects repeat its routes' matches):
	// in one response, the vhost's own small https/<fqdn> waits for ~540 KB to be parsed.
	// Sent first, it is applied at once; ingress_http follows as soon as the Envoy ACKs.
	// Deletions go with the second update, after what may still reference them changed.
	SplitAbove int

	build          prometheus.Histogram
	publishedCount prometheus.Counter
}

// RegisterMetrics records snapshot build time and published snapshots in reg.
func (p *Publisher) RegisterMetrics(reg prometheus.Registerer) error {
	p.build = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "warden_xds_snapshot_build_duration_seconds",
		Help:    "Time to translate the routing model into Envoy resources and update the xDS cache.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	p.publishedCount = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "warden_xds_snapshots_total",
		Help: "Configurations published to the xDS cache that changed at least one resource (each is pushed to the Envoys subscribed to what changed).",
	})
	for _, c := range []prometheus.Collector{p.build, p.publishedCount} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// NewPublisher returns a Publisher into cache.
func NewPublisher(cache *xdscache.Cache, o translate.Options) *Publisher {
	return &Publisher{cache: cache, tr: translate.NewTranslator(o)}
}

// Publish translates m and pushes the resources whose content changed since the last
// publication (versions are content hashes: an unchanged model republished changes nothing
// for connected Envoys, and every replica serves the same versions). Translation reuses the
// work of the previous call for every model item that did not change. A translation failure
// is returned and nothing is published: Envoys keep the last good configuration.
func (p *Publisher) Publish(ctx context.Context, m *model.Model) error {
	start := time.Now()
	res, err := p.tr.Translate(m)
	if err != nil {
		return err
	}
	changes := diff(p.published, res)
	if len(changes) == 0 {
		return nil
	}
	for _, step := range split(changes, p.splitAbove()) {
		// Should the second update fail, published stays as it was: the next call sends
		// both again (the first changes nothing then).
		if err := p.cache.Update(step...); err != nil {
			return err
		}
	}
	p.published = res
	if p.build != nil {
		p.build.Observe(time.Since(start).Seconds())
		p.publishedCount.Inc()
	}
	if p.OnPublish != nil {
		p.OnPublish(p.cache.Versions())
	}
	return nil
}

// diff returns the cache changes that turn published (nil: nothing) into res. The types
// the Translator left as they were (every type but routes, after a route change) are not
// compared: at 5,000 HTTPProxies that was ten thousand hash lookups per change.
func diff(published, res *translate.Resources) []xdscache.Change {
	var out []xdscache.Change
	for _, typ := range xdscache.Order {
		if res.Same(published, typ) {
			continue
		}
		var before map[string]string
		if published != nil {
			before = published.Hashes[typ]
		}
		after := res.Hashes[typ]
		ch := xdscache.Change{TypeURL: typ}
		for name, h := range after {
			if before[name] != h {
				ch.Upsert = append(ch.Upsert, xdscache.Resource{Name: name, Version: h, Body: res.Encoded[typ][name]})
			}
		}
		for name := range before {
			if _, ok := after[name]; !ok {
				ch.Delete = append(ch.Delete, name)
			}
		}
		if len(ch.Upsert) > 0 || len(ch.Delete) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

func (p *Publisher) splitAbove() int {
	if p.SplitAbove == 0 {
		return DefaultSplitAbove
	}
	return p.SplitAbove
}

// split orders changes into the cache updates Publish makes: one, unless an upsert is
// larger than limit (negative: none is) and others are not; then the small upserts come
// first and the large ones and every deletion second (see Publisher.SplitAbove).
func split(changes []xdscache.Change, limit int) [][]xdscache.Change {
	var small, large []xdscache.Change
	bigUpsert := false
	for _, ch := range changes {
		s, l := xdscache.Change{TypeURL: ch.TypeURL}, xdscache.Change{TypeURL: ch.TypeURL, Delete: ch.Delete}
		for _, r := range ch.Upsert {
			if limit >= 0 && len(r.Body) > limit {
				l.Upsert = append(l.Upsert, r)
			} else {
				s.Upsert = append(s.Upsert, r)
			}
		}
		if len(s.Upsert) > 0 {
			small = append(small, s)
		}
		if len(l.Upsert) > 0 || len(l.Delete) > 0 {
			large = append(large, l)
		}
		bigUpsert = bigUpsert || len(l.Upsert) > 0
	}
	if !bigUpsert || len(small) == 0 {
		return [][]xdscache.Change{changes}
	}
	return [][]xdscache.Change{small, large}
}
