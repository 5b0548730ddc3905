package xds_test

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/projectwarden/warden/xds"
	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
	"github.com/projectwarden/warden/xds/server"
)

const badDomain = "bad.example.com"

// TestCallbacks_holdNACKedVersion has an Envoy-like client reject every update carrying a bad
// virtual host, in both protocol variants: the server sends the rejected version once, not
// in a loop, counts the NACK, and the next good configuration is delivered.
func TestCallbacks_holdNACKedVersion(t *testing.T) {
	for _, mode := range []client.Mode{client.SotW, client.Delta} {
		t.Run(mode.String(), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			cb, err := xds.NewCallbacks(logr.Discard(), reg)
			if err != nil {
				t.Fatal(err)
			}
			cache := clienttest.Cache(t)
			clienttest.SetSnapshot(t, cache, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}))
			srv := clienttest.StartServer(t, cache, cb.Funcs(), server.Options{Insecure: true})
			var rejected atomic.Int32
			c, err := client.Dial(t.Context(), client.Options{Address: srv.Addr().String(), NodeID: clienttest.NodeID, Mode: mode, NACK: func(_ string, rs []proto.Message) error {
				for _, r := range rs {
					if rc, ok := r.(*routev3.RouteConfiguration); ok && slices.ContainsFunc(rc.GetVirtualHosts(), func(vh *routev3.VirtualHost) bool {
						return slices.Contains(vh.GetDomains(), badDomain)
					}) {
						rejected.Add(1)
						return errors.New("virtual host " + badDomain + " is rejected")
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = c.Run(t.Context()) }()
			if _, err := c.WaitFor(t.Context(), func(s client.State) bool { return client.CheckComplete(s) == nil }); err != nil {
				t.Fatal(err)
			}

			clienttest.SetSnapshot(t, cache, clienttest.Snapshot(t, clienttest.Fixture{Version: "v2", Domain: badDomain}))
			s, err := c.WaitFor(t.Context(), func(s client.State) bool { return s.NACKs > 0 })
			if err != nil {
				t.Fatal(err)
			}
			before := s.Responses[resource.RouteType]
			time.Sleep(time.Second)
			if n := c.Snapshot().Responses[resource.RouteType] - before; n > 1 {
				t.Errorf("%d route responses in the second after the NACK (%d rejections): the rejected version is resent in a loop", n, rejected.Load())
			}
			if got := testutil.ToFloat64(cb.NACKs(resource.RouteType)); got < 1 {
				t.Errorf("warden_xds_nacks_total{type_url=routes} = %v, want >= 1", got)
			}
			if d := cb.Debug(); len(d.NACKs) == 0 || d.NACKs[0].Node != clienttest.NodeID || !strings.Contains(d.NACKs[0].Error, badDomain) {
				t.Errorf("debug view = %+v, want the node's route NACK with its error", d)
			}

			clienttest.SetSnapshot(t, cache, clienttest.Snapshot(t, clienttest.Fixture{Version: "v3", Domain: "www3.example.com"}))
			if _, err := c.WaitFor(t.Context(), func(s client.State) bool { return s.Versions[resource.RouteType] == "v3" }); err != nil {
				t.Fatalf("the next good configuration was not delivered: %v", err)
			}
		})
	}
}
