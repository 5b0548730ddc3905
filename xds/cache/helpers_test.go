package cache_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr/testr"

	xdscache "github.com/projectwarden/warden/xds/cache"
	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
	"github.com/projectwarden/warden/xds/server"
)

// modes are the protocol variants every scenario runs with.
var modes = []client.Mode{client.SotW, client.Delta}

const waitTimeout = 10 * time.Second

// changes returns the cache changes that set every resource of the clienttest fixture f:
// two listeners, two route configurations, a cluster, its assignment and a secret.
func changes(t *testing.T, f clienttest.Fixture) []xdscache.Change {
	t.Helper()
	if f.Version == "" {
		f.Version = "unused" // the cache computes content-hash versions
	}
	snap := clienttest.Snapshot(t, f)
	var out []xdscache.Change
	for typ := range snap.Resources {
		url, err := cachev3.GetResponseTypeURL(types.ResponseType(typ))
		if err != nil {
			continue // a type the fixture does not use
		}
		ch := xdscache.Change{TypeURL: url}
		for name, r := range snap.Resources[typ].Items {
			b, err := cachev3.MarshalResource(r.Resource)
			if err != nil {
				t.Fatal(err)
			}
			ch.Upsert = append(ch.Upsert, xdscache.Resource{Name: name, Version: cachev3.HashResource(b), Body: b})
		}
		out = append(out, ch)
	}
	return out
}

// changeOf is the Change of the fixture f's resources of the type typeURL.
func changeOf(t *testing.T, f clienttest.Fixture, typeURL string) xdscache.Change {
	t.Helper()
	for _, ch := range changes(t, f) {
		if ch.TypeURL == typeURL {
			return ch
		}
	}
	t.Fatalf("no %s in the fixture", typeURL)
	return xdscache.Change{}
}

func update(t *testing.T, c *xdscache.Cache, chs ...xdscache.Change) {
	t.Helper()
	if err := c.Update(chs...); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// sent is one response the server sent.
type sent struct {
	typeURL, version string
	names, removed   []string
}

// recorder records the responses of every stream.
type recorder struct {
	mu      sync.Mutex
	sent    []sent
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) add(s sent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(s.names)
	r.sent = append(r.sent, s)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) snapshot() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func (r *recorder) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, out *discoveryv3.DiscoveryResponse) {
			s := sent{typeURL: out.GetTypeUrl(), version: out.GetVersionInfo()}
			for _, a := range out.GetResources() {
				m, err := a.UnmarshalNew()
				if err != nil {
					panic(err)
				}
				s.names = append(s.names, cachev3.GetResourceName(m))
			}
			r.add(s)
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, out *discoveryv3.DeltaDiscoveryResponse) {
			s := sent{typeURL: out.GetTypeUrl(), version: out.GetSystemVersionInfo(), removed: out.GetRemovedResources()}
			for _, res := range out.GetResources() {
				s.names = append(s.names, res.GetName())
			}
			r.add(s)
		},
	}
}

// harness is Warden's xDS server over a Cache holding the fixture, and a connected client
// that holds everything.
type harness struct {
	cache    *xdscache.Cache
	recorder *recorder
	server   *server.Server
	client   *client.Client
}

func start(t *testing.T, mode client.Mode, o client.Options) *harness {
	t.Helper()
	h := &harness{cache: xdscache.New(testr.New(t)), recorder: newRecorder()}
	update(t, h.cache, changes(t, clienttest.Fixture{})...)
	h.server = clienttest.StartServer(t, h.cache, h.recorder.callbacks(), server.Options{Insecure: true})
	o.Address, o.Mode = h.server.Addr().String(), mode
	if o.NodeID == "" {
		o.NodeID = clienttest.NodeID
	}
	h.client = clienttest.Dial(t, o)
	clienttest.Run(t, h.client)
	waitFor(t, h.client, "a complete configuration", func(s client.State) bool { return client.CheckComplete(s) == nil && len(s.Routes) == 2 })
	return h
}

func waitFor(t *testing.T, c *client.Client, what string, cond func(client.State) bool) client.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	s, err := c.WaitFor(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return s
}

// quiet waits until no response has been sent for d and returns the responses so far.
func (r *recorder) quiet(d time.Duration) []sent {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(d):
			return r.snapshot()
		}
	}
}
