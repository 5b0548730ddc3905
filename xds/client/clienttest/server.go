package clienttest

import (
	"context"
	"testing"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/projectwarden/warden/xds/server"
)

// NodeID is the node id of test clients; Cache's snapshots are set for it.
const NodeID = "envoy-test"

// Cache returns an ADS snapshot cache keyed by node id (cache.IDHash) that logs to t.
func Cache(t testing.TB) cachev3.SnapshotCache {
	return cachev3.NewSnapshotCache(server.ADS, cachev3.IDHash{}, server.NewLogger(testr.NewWithInterface(t, testr.Options{})))
}

// SetSnapshot sets s as NodeID's snapshot in c.
func SetSnapshot(t testing.TB, c cachev3.SnapshotCache, s *cachev3.Snapshot) {
	t.Helper()
	if err := c.SetSnapshot(context.Background(), NodeID, s); err != nil {
		t.Fatalf("SetSnapshot: %v", err)
	}
}

// StartServer runs Warden's xDS server for c with o (o.Address defaults to 127.0.0.1:0)
// until the end of the test, when it checks that Run returned nil. callbacks may be nil.
func StartServer(t testing.TB, c cachev3.Cache, callbacks serverv3.Callbacks, o server.Options) *server.Server {
	t.Helper()
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	s, err := server.New(c, callbacks, o)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testr.NewWithInterface(t, testr.Options{})))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("xDS server Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("xDS server Run did not return 10s after its context was cancelled")
		}
	})
	return s
}
