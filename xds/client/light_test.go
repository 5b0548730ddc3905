package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/projectwarden/warden/xds/client"
	"github.com/projectwarden/warden/xds/client/clienttest"
)

// rawLog is an Options.NACKRaw hook that records the last resource received of each type
// and name; reject, if set, may reject a response first (it is then not recorded).
type rawLog struct {
	reject func(typeURL string, resources []client.RawResource) error

	mu   sync.Mutex
	last map[string]map[string]client.RawResource
}

func (l *rawLog) hook(typeURL string, resources []client.RawResource) error {
	if l.reject != nil {
		if err := l.reject(typeURL, resources); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]map[string]client.RawResource{}
	}
	if l.last[typeURL] == nil {
		l.last[typeURL] = map[string]client.RawResource{}
	}
	for _, r := range resources {
		l.last[typeURL][r.Name] = r
	}
	return nil
}

// get returns the last resource received of the type typeURL named name.
func (l *rawLog) get(t *testing.T, typeURL, name string) client.RawResource {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.last[typeURL][name]
	if !ok {
		t.Fatalf("the NACKRaw hook never saw %s %q", typeURL, name)
	}
	return r
}

// startLight serves snapshot and runs a light client in mode with the hook of log.
func startLight(t *testing.T, mode client.Mode, snapshot *cachev3.Snapshot, log *rawLog) *harness {
	t.Helper()
	return startWith(t, snapshot, client.Options{Mode: mode, Light: true, NACKRaw: log.hook})
}

// summaryNames returns the names held of every type, by short name.
func summaryNames(s client.State) map[string][]string {
	return map[string][]string{
		"listeners": s.Summaries.Names(resource.ListenerType), "routes": s.Summaries.Names(resource.RouteType),
		"clusters": s.Summaries.Names(resource.ClusterType), "endpoints": s.Summaries.Names(resource.EndpointType),
		"secrets": s.Summaries.Names(resource.SecretType),
	}
}

// summary returns the summary of a resource of s, failing the test if it is not held.
func summary(t *testing.T, s client.State, typeURL, name string) client.Summary {
	t.Helper()
	sum, ok := s.Summaries.Get(typeURL, name)
	if !ok {
		t.Fatalf("%s %q is not held; holding %v", typeURL, name, summaryNames(s))
	}
	return sum
}

// routeDomain decodes a raw route configuration and returns the first domain of its first
// virtual host.
func routeDomain(t *testing.T, r client.RawResource) string {
	t.Helper()
	var rc routev3.RouteConfiguration
	if err := r.Resource.UnmarshalTo(&rc); err != nil {
		t.Fatalf("decoding %s: %v", r.Name, err)
	}
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			return d
		}
	}
	return ""
}

func TestXDSClient_lightReceivesEverything(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			log := &rawLog{}
			h := startLight(t, mode, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}), log)
			s := waitFor(t, h.client, "a complete state", complete)

			if !s.Light || s.Pending() != 0 {
				t.Errorf("Light = %t, Pending = %d; want a light state with nothing pending", s.Light, s.Pending())
			}
			want := map[string][]string{
				"listeners": {clienttest.ListenerHTTP, clienttest.ListenerHTTPS},
				"routes":    {clienttest.RouteHTTPS, clienttest.RouteHTTP},
				"clusters":  {"a"}, "endpoints": {"a"}, "secrets": {clienttest.Secret},
			}
			if diff := cmp.Diff(want, summaryNames(s)); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			wantSubs := map[string][]string{
				resource.EndpointType: {"a"},
				resource.RouteType:    {clienttest.RouteHTTPS, clienttest.RouteHTTP},
				resource.SecretType:   {clienttest.Secret},
			}
			if diff := cmp.Diff(wantSubs, s.Subscriptions); diff != "" {
				t.Errorf("subscriptions (-want +got):\n%s", diff)
			}
			if s.NACKs != 0 {
				t.Errorf("NACKs = %d, want 0", s.NACKs)
			}
			for _, typ := range allTypes {
				if s.Versions[typ] != "v1" {
					t.Errorf("version of %s = %q, want v1", typ, s.Versions[typ])
				}
				// Each summary is that of the resource received.
				for _, name := range s.Summaries.Names(typ) {
					sum, raw := summary(t, s, typ, name), log.get(t, typ, name)
					if sum.Version != raw.Version || sum.Fingerprint != client.Fingerprint(raw.Resource) {
						t.Errorf("summary of %s %q = %+v, want version %q and the fingerprint of the resource received", typ, name, sum, raw.Version)
					}
					if mode == client.SotW && sum.Version != "v1" {
						t.Errorf("version of %s %q = %q, want the response's, v1", typ, name, sum.Version)
					}
				}
				// It holds no decoded resource.
				if n := len(s.Resources(typ)); n != 0 {
					t.Errorf("a light client holds %d decoded resources of %s", n, typ)
				}
			}
			if len(s.ResourceVersions) != 0 {
				t.Errorf("a light client fills ResourceVersions: %v", s.ResourceVersions)
			}
			h.recorder.waitFor(t, "an ACK of every response", func(e []exchange) bool { return acked(mode, e) })
		})
	}
}

func TestXDSClient_lightFollowsUpdates(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			log := &rawLog{}
			h := startLight(t, mode, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}), log)
			before := waitFor(t, h.client, "a complete state", complete)
			http1, https1 := summary(t, before, resource.RouteType, clienttest.RouteHTTP), summary(t, before, resource.RouteType, clienttest.RouteHTTPS)

			clienttest.SetSnapshot(t, h.cache, clienttest.Snapshot(t, clienttest.Fixture{Version: "v2", Domain: "www2.example.com"}))
			s := waitFor(t, h.client, "a new "+clienttest.RouteHTTP, func(s client.State) bool {
				sum, _ := s.Summaries.Get(resource.RouteType, clienttest.RouteHTTP)
				return sum.Fingerprint != http1.Fingerprint
			})
			http2, https2 := summary(t, s, resource.RouteType, clienttest.RouteHTTP), summary(t, s, resource.RouteType, clienttest.RouteHTTPS)
			if got := routeDomain(t, log.get(t, resource.RouteType, clienttest.RouteHTTP)); got != "www2.example.com" {
				t.Errorf("domain of the %s received = %q, want www2.example.com", clienttest.RouteHTTP, got)
			}
			if https2.Fingerprint != https1.Fingerprint {
				t.Errorf("the fingerprint of %s changed with its content unchanged", clienttest.RouteHTTPS)
			}
			switch mode {
			case client.SotW:
				if http2.Version != "v2" || https2.Version != "v2" {
					t.Errorf("route versions = %q and %q, want those of the response, v2", http2.Version, https2.Version)
				}
			case client.Delta:
				if http2.Version == http1.Version || https2.Version != https1.Version {
					t.Errorf("route versions %q -> %q (changed) and %q -> %q (unchanged)", http1.Version, http2.Version, https1.Version, https2.Version)
				}
			}
			// The state handed out before the change did not change with it.
			if got := summary(t, before, resource.RouteType, clienttest.RouteHTTP); got != http1 {
				t.Errorf("a state handed out changed: %+v, was %+v", got, http1)
			}
			if err := client.CheckComplete(s); err != nil {
				t.Error(err)
			}
			h.recorder.waitFor(t, "an ACK of every response", func(e []exchange) bool { return acked(mode, e) })
		})
	}
}

func TestXDSClient_lightRemovedCluster(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			h := startLight(t, mode, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}), &rawLog{})
			waitFor(t, h.client, "a complete state", complete)

			// Cluster "a" (and its assignment) is replaced by "b".
			clienttest.SetSnapshot(t, h.cache, clienttest.Snapshot(t, clienttest.Fixture{Version: "v2", Cluster: "b"}))
			s := waitFor(t, h.client, "cluster b complete", func(s client.State) bool {
				_, a := s.Summaries.Get(resource.ClusterType, "a")
				_, b := s.Summaries.Get(resource.EndpointType, "b")
				return !a && b && complete(s)
			})
			for _, typ := range []string{resource.ClusterType, resource.EndpointType} {
				if diff := cmp.Diff([]string{"b"}, s.Summaries.Names(typ)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", typ, diff)
				}
			}
			if diff := cmp.Diff([]string{"b"}, s.Subscriptions[resource.EndpointType]); diff != "" {
				t.Errorf("endpoint subscriptions (-want +got):\n%s", diff)
			}
			h.recorder.waitFor(t, "an ACK of every response", func(e []exchange) bool { return acked(mode, e) })
		})
	}
}

// TestXDSClient_lightNACKRaw rejects an update once through NACKRaw, which decodes only the
// route configuration it looks for: the client NACKs it as a full client would.
func TestXDSClient_lightNACKRaw(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			var rejections atomic.Int32
			log := &rawLog{reject: func(typeURL string, resources []client.RawResource) error {
				if typeURL != resource.RouteType {
					return nil
				}
				for _, r := range resources {
					if r.Name == clienttest.RouteHTTP && routeDomain(t, r) == badDomain && rejections.Add(1) == 1 {
						return errors.New("virtual host " + badDomain + " is rejected")
					}
				}
				return nil
			}}
			h := startLight(t, mode, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}), log)
			v1 := summary(t, waitFor(t, h.client, "a complete state", complete), resource.RouteType, clienttest.RouteHTTP)

			clienttest.SetSnapshot(t, h.cache, clienttest.Snapshot(t, clienttest.Fixture{Version: "v2", Domain: badDomain}))
			s := waitFor(t, h.client, "a NACK", func(s client.State) bool { return s.NACKs > 0 })
			if mode == client.Delta && (s.Versions[resource.RouteType] != "v1" || summary(t, s, resource.RouteType, clienttest.RouteHTTP) != v1) {
				t.Errorf("after the NACK the client holds route configurations %q, %+v; want v1's, %+v",
					s.Versions[resource.RouteType], summary(t, s, resource.RouteType, clienttest.RouteHTTP), v1)
			}
			exchanges := h.recorder.waitFor(t, "a NACK", func(e []exchange) bool {
				return slices.ContainsFunc(e, func(e exchange) bool { return e.nack })
			})
			nack := exchanges[slices.IndexFunc(exchanges, func(e exchange) bool { return e.nack })]
			if nack.typeURL != resource.RouteType || !strings.Contains(nack.errorDetail, badDomain+" is rejected") {
				t.Errorf("NACK = %+v, want one of route configurations with the hook's message", nack)
			}
			rejected := slices.IndexFunc(exchanges, func(e exchange) bool {
				return e.response && e.typeURL == resource.RouteType && e.version == "v2"
			})
			if rejected < 0 || exchanges[rejected].nonce != nack.nonce {
				t.Errorf("the NACK does not carry the nonce of the first v2 route response:\n%s", dumpExchanges(exchanges))
			}
			if mode == client.SotW {
				if nack.version != "v1" {
					t.Errorf("NACK version_info = %q, want v1 (the last accepted)", nack.version)
				}
				// The server resends v2, which the hook now accepts.
				s = waitFor(t, h.client, "v2 accepted on the resend", func(s client.State) bool {
					return s.Versions[resource.RouteType] == "v2"
				})
				if summary(t, s, resource.RouteType, clienttest.RouteHTTP).Fingerprint == v1.Fingerprint {
					t.Errorf("v2 accepted, but %s is v1's", clienttest.RouteHTTP)
				}
			}
		})
	}
}

// TestXDSClient_lightIncomplete serves a snapshot without one route configuration that a
// listener references: CheckComplete names it, and Pending counts it.
func TestXDSClient_lightIncomplete(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			snapshot := clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"})
			delete(snapshot.Resources[types.Route].Items, clienttest.RouteHTTPS)
			h := startLight(t, mode, snapshot, &rawLog{})
			s := waitFor(t, h.client, "every resource but the routes", func(s client.State) bool {
				return s.Summaries.Len(resource.SecretType) == 1 && s.Summaries.Len(resource.EndpointType) == 1 &&
					s.Summaries.Len(resource.ListenerType) == 2
			})
			if s.Pending() == 0 {
				t.Error("Pending = 0 without a route configuration")
			}
			var incomplete *client.IncompleteError
			if err := client.CheckComplete(s); !errors.As(err, &incomplete) {
				t.Fatalf("CheckComplete = %v, want an *IncompleteError", err)
			}
			want := `route configuration "` + clienttest.RouteHTTPS + `" (subscribed)`
			if !slices.Contains(incomplete.Missing, want) {
				t.Errorf("missing %q, want it to hold %q", incomplete.Missing, want)
			}
		})
	}
}

func TestXDSClient_lightRefusesNACK(t *testing.T) {
	_, err := client.Dial(context.Background(), client.Options{
		Address: "127.0.0.1:1", Light: true, NACK: func(string, []proto.Message) error { return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "NACKRaw") {
		t.Errorf("Dial of a light client with NACK = %v, want an error pointing to NACKRaw", err)
	}
}
