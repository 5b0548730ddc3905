package client_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/protobuf/proto"

	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
	"github.com/projectwarden/warden/xds/server"
)

// modes are the protocol variants every scenario runs with.
var modes = []client.Mode{client.SotW, client.Delta}

// waitTimeout bounds every wait; tests normally wait milliseconds.
const waitTimeout = 10 * time.Second

// harness is a server with a snapshot cache, recording its streams, and a running client.
type harness struct {
	cache    cachev3.SnapshotCache
	recorder *recorder
	client   *client.Client
}

// start serves clienttest.Snapshot v1 over plaintext and runs a client in mode with nack.
func start(t *testing.T, mode client.Mode, nack func(string, []proto.Message) error) *harness {
	t.Helper()
	return startWith(t, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}), client.Options{Mode: mode, NACK: nack})
}

// startWith serves snapshot over plaintext and runs a client with o, whose address and
// node id it sets.
func startWith(t *testing.T, snapshot *cachev3.Snapshot, o client.Options) *harness {
	t.Helper()
	h := &harness{cache: clienttest.Cache(t), recorder: &recorder{changed: make(chan struct{})}}
	clienttest.SetSnapshot(t, h.cache, snapshot)
	srv := clienttest.StartServer(t, h.cache, h.recorder.callbacks(), server.Options{Insecure: true})
	o.Address, o.NodeID = srv.Addr().String(), clienttest.NodeID
	h.client = clienttest.Dial(t, o)
	clienttest.Run(t, h.client)
	return h
}

// waitFor waits until cond holds for the client's state, and fails the test after
// waitTimeout.
func waitFor(t *testing.T, c *client.Client, what string, cond func(client.State) bool) client.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	s, err := c.WaitFor(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v\nlast state: %s", what, err, describe(s))
	}
	return s
}

// complete is the condition of a state that CheckComplete accepts.
func complete(s client.State) bool { return client.CheckComplete(s) == nil }

// describe summarises s for failure messages.
func describe(s client.State) string {
	return fmt.Sprintf("listeners %v, routes %v, clusters %v, endpoints %v, secrets %v, versions %v, subscriptions %v, NACKs %d, responses %v",
		names(s.Listeners), names(s.Routes), names(s.Clusters), names(s.Endpoints), names(s.Secrets),
		s.Versions, s.Subscriptions, s.NACKs, s.Responses)
}

// names returns the sorted keys of m.
func names[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// exchange is one request or response on a server stream, as the server's callbacks see
// it; both protocols are recorded in this one form.
type exchange struct {
	response bool
	typeURL  string
	// version is the version_info (state of the world) or system_version_info (delta).
	version, nonce string
	// names are the resource names of a state-of-the-world request, or of the resources of
	// a delta response.
	names []string
	// count is the number of resources of a response.
	count int
	// subscribe, unsubscribe and removed are the delta lists.
	subscribe, unsubscribe, removed []string
	// errorDetail is the message of a NACK.
	errorDetail string
	nack        bool
}

// recorder records what the server's streams carry.
type recorder struct {
	mu        sync.Mutex
	exchanges []exchange
	// changed is closed and replaced on every record.
	changed chan struct{}
}

func (r *recorder) record(e exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exchanges = append(r.exchanges, e)
	close(r.changed)
	r.changed = make(chan struct{})
}

// callbacks are server callbacks that record every request and response.
func (r *recorder) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
			r.record(exchange{
				typeURL: req.GetTypeUrl(), version: req.GetVersionInfo(), nonce: req.GetResponseNonce(),
				names: req.GetResourceNames(), nack: req.GetErrorDetail() != nil, errorDetail: req.GetErrorDetail().GetMessage(),
			})
			return nil
		},
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			r.record(exchange{response: true, typeURL: resp.GetTypeUrl(), version: resp.GetVersionInfo(), nonce: resp.GetNonce(), count: len(resp.GetResources())})
		},
		StreamDeltaRequestFunc: func(_ int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			r.record(exchange{
				typeURL: req.GetTypeUrl(), nonce: req.GetResponseNonce(),
				subscribe: req.GetResourceNamesSubscribe(), unsubscribe: req.GetResourceNamesUnsubscribe(),
				nack: req.GetErrorDetail() != nil, errorDetail: req.GetErrorDetail().GetMessage(),
			})
			return nil
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			e := exchange{response: true, typeURL: resp.GetTypeUrl(), version: resp.GetSystemVersionInfo(), nonce: resp.GetNonce(), removed: resp.GetRemovedResources()}
			for _, res := range resp.GetResources() {
				e.names = append(e.names, res.GetName())
			}
			e.count = len(e.names)
			r.record(e)
		},
	}
}

// snapshot returns a copy of the exchanges so far.
func (r *recorder) snapshot() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exchanges)
}

// waitFor waits until cond holds for the exchanges so far, and fails the test after
// waitTimeout.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]exchange) bool) []exchange {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		exchanges, changed := slices.Clone(r.exchanges), r.changed
		r.mu.Unlock()
		if cond(exchanges) {
			return exchanges
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("waiting for the server to see %s; it saw:\n%s", what, dumpExchanges(exchanges))
		}
	}
}

// dumpExchanges formats exchanges one a line, for failure messages.
func dumpExchanges(exchanges []exchange) string {
	var out string
	for _, e := range exchanges {
		out += fmt.Sprintf("%+v\n", e)
	}
	return out
}

// acked reports whether every response in exchanges was followed by an ACK of its nonce
// (and, in the state of the world, of its version).
func acked(mode client.Mode, exchanges []exchange) bool {
	for i, resp := range exchanges {
		if !resp.response {
			continue
		}
		found := false
		for _, req := range exchanges[i+1:] {
			if !req.response && !req.nack && req.typeURL == resp.typeURL && req.nonce == resp.nonce &&
				(mode == client.Delta || req.version == resp.version) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
