package xds

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Callbacks observe the xDS streams: they count and log NACKs, record them for the debug
// view, and stop go-control-plane's snapshot cache from resending a rejected
// state-of-the-world version in a loop.
//
// A state-of-the-world NACK carries the last version the client accepted, not the one it
// rejected; go-control-plane's snapshot cache sees a version different from its own and
// answers at once with the same rejected response, about a thousand times a second
// (go-control-plane#962). Here a NACK's version is rewritten to the version it rejected
// (known from the response with the same nonce on that stream), so the cache answers only
// when the configuration changes again. Warden's own cache (xds/cache) decides from what
// it sent and never loops; the rewrite keeps any go-control-plane cache safe too. The
// client keeps its last good configuration meanwhile, as Envoy does.
type Callbacks struct {
	log       logr.Logger
	nackCount *prometheus.CounterVec
	conns     prometheus.Gauge
	push      prometheus.Histogram
	published atomic.Int64 // unix nanos of the last snapshot set (Published)

	mu    sync.Mutex
	sent  map[int64]map[string]sentResponse // stream -> type URL -> last response
	node  map[int64]string                  // stream -> node id
	nacks map[string]NACK                   // node id + type URL -> its last NACK
}

// NACK is the last rejection of one resource type by one node, for the debug view.
type NACK struct {
	Node     string    `json:"node"`
	TypeURL  string    `json:"typeURL"`
	Version  string    `json:"rejectedVersion"`
	Accepted string    `json:"acceptedVersion"`
	Error    string    `json:"error"`
	At       time.Time `json:"at"`
}

type sentResponse struct{ nonce, version string }

// NewCallbacks returns Callbacks whose metrics are registered with reg (nil: none).
func NewCallbacks(log logr.Logger, reg prometheus.Registerer) (*Callbacks, error) {
	c := &Callbacks{log: log, sent: map[int64]map[string]sentResponse{}, node: map[int64]string{}, nacks: map[string]NACK{},
		nackCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_xds_nacks_total",
			Help: "Configuration updates rejected (NACKed) by Envoys, by resource type.",
		}, []string{"type_url"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warden_xds_streams",
			Help: "Open xDS streams (state-of-the-world and delta).",
		}),
		push: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "warden_xds_push_duration_seconds",
			Help:    "Time from a snapshot being set to each state-of-the-world response carrying it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{c.nackCount, c.conns, c.push} {
			if err := reg.Register(m); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Funcs returns the go-control-plane callbacks.
func (c *Callbacks) Funcs() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc:         func(context.Context, int64, string) error { c.conns.Inc(); return nil },
		StreamClosedFunc:       func(id int64, _ *corev3.Node) { c.closed(id) },
		DeltaStreamOpenFunc:    func(context.Context, int64, string) error { c.conns.Inc(); return nil },
		DeltaStreamClosedFunc:  func(id int64, _ *corev3.Node) { c.closed(id) },
		StreamRequestFunc:      c.onRequest,
		StreamResponseFunc:     c.onResponse,
		StreamDeltaRequestFunc: c.onDeltaRequest,
	}
}

func (c *Callbacks) closed(id int64) {
	c.conns.Dec()
	c.mu.Lock()
	delete(c.sent, id)
	delete(c.node, id)
	c.mu.Unlock()
}

// Published records that a new snapshot was set now; responses after it feed the push
// latency histogram.
func (c *Callbacks) Published() { c.published.Store(time.Now().UnixNano()) }

func (c *Callbacks) onResponse(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	if p := c.published.Load(); p != 0 && req.GetVersionInfo() != "" && req.GetVersionInfo() != resp.GetVersionInfo() {
		c.push.Observe(time.Since(time.Unix(0, p)).Seconds()) // an update to a client that had a version
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent[id] == nil {
		c.sent[id] = map[string]sentResponse{}
	}
	c.sent[id][resp.GetTypeUrl()] = sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
}

func (c *Callbacks) onRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	c.mu.Lock()
	if n := req.GetNode().GetId(); n != "" {
		c.node[id] = n
	}
	node := c.node[id]
	last, ok := c.sent[id][req.GetTypeUrl()]
	c.mu.Unlock()
	if req.GetErrorDetail() == nil {
		return nil
	}
	c.nackCount.WithLabelValues(req.GetTypeUrl()).Inc()
	c.log.Info("Envoy rejected a configuration update", "node", node, "typeURL", req.GetTypeUrl(),
		"acceptedVersion", req.GetVersionInfo(), "error", req.GetErrorDetail().GetMessage())
	rejected := ""
	if ok && last.nonce == req.GetResponseNonce() {
		rejected = last.version
	}
	c.record(NACK{Node: node, TypeURL: req.GetTypeUrl(), Version: rejected, Accepted: req.GetVersionInfo(), Error: req.GetErrorDetail().GetMessage()})
	if rejected != "" {
		req.VersionInfo = rejected // hold the rejected version until the configuration changes
	}
	return nil
}

func (c *Callbacks) record(n NACK) {
	n.At = time.Now()
	c.mu.Lock()
	c.nacks[n.Node+"\x00"+n.TypeURL] = n
	c.mu.Unlock()
}

// DebugState is what /debug/xds shows: the connected nodes and the last NACK of each node
// and resource type.
type DebugState struct {
	Nodes []string `json:"nodes"`
	NACKs []NACK   `json:"nacks"`
}

// Debug returns the current DebugState, sorted.
func (c *Callbacks) Debug() DebugState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := DebugState{Nodes: []string{}, NACKs: []NACK{}}
	for _, n := range c.node {
		if !slices.Contains(st.Nodes, n) {
			st.Nodes = append(st.Nodes, n)
		}
	}
	for _, n := range c.nacks {
		st.NACKs = append(st.NACKs, n)
	}
	slices.Sort(st.Nodes)
	slices.SortFunc(st.NACKs, func(a, b NACK) int { return strings.Compare(a.Node+a.TypeURL, b.Node+b.TypeURL) })
	return st
}

// DebugHandler serves Debug as JSON.
func (c *Callbacks) DebugHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(c.Debug())
	})
}

func (c *Callbacks) onDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	c.mu.Lock()
	if n := req.GetNode().GetId(); n != "" {
		c.node[id] = n
	}
	node := c.node[id]
	c.mu.Unlock()
	if req.GetErrorDetail() == nil {
		return nil
	}
	c.nackCount.WithLabelValues(req.GetTypeUrl()).Inc()
	c.log.Info("Envoy rejected a configuration update", "node", node, "typeURL", req.GetTypeUrl(), "error", req.GetErrorDetail().GetMessage())
	c.record(NACK{Node: node, TypeURL: req.GetTypeUrl(), Error: req.GetErrorDetail().GetMessage()})
	return nil
}

// NACKs returns the NACK counter of one resource type (for tests and the debug view).
func (c *Callbacks) NACKs(typeURL string) prometheus.Counter {
	return c.nackCount.WithLabelValues(typeURL)
}
