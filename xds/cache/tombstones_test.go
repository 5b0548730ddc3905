package cache

import (
	"slices"
	"testing"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tombstoneCache returns a Cache whose tombstones age on a clock the test moves.
func tombstoneCache(t *testing.T) (*Cache, *time.Time) {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(logr.Discard())
	c.now = func() time.Time { return now }
	return c, &now
}

func resources(names ...string) Change {
	ch := Change{TypeURL: resource.EndpointType}
	for _, n := range names {
		ch.Upsert = append(ch.Upsert, Resource{Name: n, Version: "v-" + n, Body: []byte(n)})
	}
	return ch
}

// deltaClient is one delta stream of a type, driven by hand: watch sends a request and
// returns the response, if any.
type deltaClient struct {
	t   *testing.T
	c   *Cache
	sub stream.Subscription
	ch  chan cachev3.DeltaResponse
}

func (d *deltaClient) watch(nonce string) (names, removed []string, err error) {
	d.t.Helper()
	if _, err := d.c.CreateDeltaWatch(&cachev3.DeltaRequest{TypeUrl: resource.EndpointType, ResponseNonce: nonce}, &d.sub, d.ch); err != nil {
		return nil, nil, err
	}
	if len(d.ch) == 0 {
		return nil, nil, nil
	}
	r := <-d.ch
	d.sub.SetReturnedResources(r.GetReturnedResources())
	m, _ := r.GetDeltaDiscoveryResponse()
	for _, x := range m.GetResources() {
		names = append(names, x.GetName())
	}
	return names, m.GetRemovedResources(), nil
}

func TestTombstones(t *testing.T) {
	t.Run("dropped_after_the_ttl", func(t *testing.T) {
		c, now := tombstoneCache(t)
		mustUpdate(t, c, resources("a", "b", "c"))
		mustUpdate(t, c, Change{TypeURL: resource.EndpointType, Delete: []string{"a", "b"}})
		if n := len(c.types[resource.EndpointType].deleted.byName); n != 2 {
			t.Fatalf("%d tombstones after deleting two names, want 2", n)
		}
		*now = now.Add(tombstoneTTL + time.Second)
		mustUpdate(t, c, resources("d"))
		if n := len(c.types[resource.EndpointType].deleted.byName); n != 0 {
			t.Errorf("%d tombstones kept past their TTL, want 0", n)
		}
	})
	t.Run("late_ack_within_the_ttl_is_told_the_removal", func(t *testing.T) {
		c, now := tombstoneCache(t)
		mustUpdate(t, c, resources("a", "b"))
		d := &deltaClient{t: t, c: c, sub: stream.NewDeltaSubscription([]string{"a", "b"}, nil, nil, false), ch: make(chan cachev3.DeltaResponse, 1)}
		if names, _, err := d.watch(""); err != nil || !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("first response %v (%v), want a and b", names, err)
		}
		mustUpdate(t, c, Change{TypeURL: resource.EndpointType, Delete: []string{"a"}})
		*now = now.Add(tombstoneTTL / 2)
		mustUpdate(t, c, resources("x"))
		if names, removed, err := d.watch("1"); err != nil || len(names) != 0 || !slices.Equal(removed, []string{"a"}) {
			t.Errorf("late ACK answered with %v removing %v (%v), want a removed", names, removed, err)
		}
	})
	t.Run("named_client_older_than_the_tombstones_is_told_what_does_not_exist", func(t *testing.T) {
		c, now := tombstoneCache(t)
		mustUpdate(t, c, resources("a", "b", "x"))
		d := &deltaClient{t: t, c: c, sub: stream.NewDeltaSubscription([]string{"a", "b"}, nil, nil, false), ch: make(chan cachev3.DeltaResponse, 1)}
		if _, _, err := d.watch(""); err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, c, Change{TypeURL: resource.EndpointType, Delete: []string{"a"}})
		*now = now.Add(2 * tombstoneTTL)
		mustUpdate(t, c, Change{TypeURL: resource.EndpointType, Delete: []string{"x"}})
		names, removed, err := d.watch("1")
		if err != nil || len(names) != 0 || !slices.Equal(removed, []string{"a"}) {
			t.Errorf("ACK after the TTL answered with %v removing %v (%v), want a removed and nothing sent", names, removed, err)
		}
	})
	t.Run("wildcard_client_older_than_the_tombstones_must_reconnect", func(t *testing.T) {
		c, now := tombstoneCache(t)
		mustUpdate(t, c, resources("a", "b"))
		d := &deltaClient{t: t, c: c, sub: stream.NewDeltaSubscription(nil, nil, nil, true), ch: make(chan cachev3.DeltaResponse, 1)}
		if _, _, err := d.watch(""); err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, c, Change{TypeURL: resource.EndpointType, Delete: []string{"a"}})
		*now = now.Add(2 * tombstoneTTL)
		mustUpdate(t, c, resources("c"))
		_, _, err := d.watch("1")
		if status.Code(err) != codes.Aborted {
			t.Fatalf("ACK after the TTL: err = %v, want Aborted (reconnect)", err)
		}
		// The new stream announces what it holds and is brought up to date name by name.
		d.sub = stream.NewDeltaSubscription(nil, nil, map[string]string{"a": "v-a", "b": "v-b"}, true)
		names, removed, err := d.watch("")
		if err != nil || !slices.Equal(names, []string{"c"}) || !slices.Equal(removed, []string{"a"}) {
			t.Errorf("reconnected stream answered with %v removing %v (%v), want c sent and a removed", names, removed, err)
		}
	})
}

func mustUpdate(t *testing.T, c *Cache, chs ...Change) {
	t.Helper()
	if err := c.Update(chs...); err != nil {
		t.Fatal(err)
	}
}
