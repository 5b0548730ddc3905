// Package cache is the xDS cache Warden serves from: one configuration for every Envoy, held
// as pre-encoded resources with content-hash versions, implementing go-control-plane's
// cache.Cache for its state-of-the-world and delta servers.
//
// It replaces go-control-plane's SnapshotCache, which, in v0.14, re-encodes every resource of
// a response for every client, and answers a state-of-the-world change of one route
// configuration with every route configuration (4.3 MB for Contour at 5,000 HTTPProxies,
// per Envoy). Here:
//
//   - each resource is encoded once, by the translator, and its bytes are shared by every
//     response to every client;
//   - a push carries only what changed where the protocol allows: in delta xDS always; in the
//     state of the world for route configurations, load assignments and secrets (the xDS
//     protocol requires the full set only for listeners and clusters);
//   - an update wakes only the watches subscribed to a changed name;
//   - versions are content hashes: the resource version is the hash of its encoding, the
//     state-of-the-world version of a type the hash of all its names and versions, so every
//     replica serves identical versions, and an Envoy reconnecting to another replica with the
//     listeners and clusters it already holds is not sent them again;
//   - what the client was sent, not what it last accepted, decides what to send next: a
//     NACKed update is not sent again until the configuration changes (go-control-plane's
//     SnapshotCache resends it in a loop);
//   - what a client holds is a small token (the update it was last brought to, and its
//     subscription set, interned: a fleet's Envoys share them), not a map of every name:
//     the server keeps one per client and type, so a map costs memory for every Envoy and a
//     copy on every push (sotw_named.go, delta_token.go). Listeners and clusters of wildcard
//     state-of-the-world clients need only the type's version.
//
// Known gap, shared with go-control-plane's caches: a route to a cluster created in the same
// update can reach Envoy before the cluster's assignment, which Envoy requests only once it
// has the cluster; Envoy warms the cluster meanwhile.
//
// Updates are applied to the types in ADS order (clusters, endpoints, secrets, listeners,
// routes), so that the ordered ADS server sends a resource before those that refer to it.
package cache

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/anypb"
)

// Resource is one named resource, encoded.
type Resource struct {
	// Name is the resource's xDS name.
	Name string
	// Version is the content hash of Body (cachev3.HashResource).
	Version string
	// Body is the deterministic protobuf encoding of the resource (cachev3.MarshalResource).
	// The cache keeps it and shares it with every response: it must not change afterwards.
	Body []byte
}

// Change is the update of one resource type: resources added or replaced, and names removed.
type Change struct {
	TypeURL string
	Upsert  []Resource
	Delete  []string
}

// Order is the order in which Update applies the changes of several types: a resource comes
// before those that refer to it (clusters before the load assignments Envoy then requests,
// secrets before the listeners that use them, listeners before their route configurations).
var Order = []string{resource.ClusterType, resource.EndpointType, resource.SecretType, resource.ListenerType, resource.RouteType}

// Cache holds the resources served to every Envoy and the open watches. It is safe for
// concurrent use. The zero value is not usable; use New.
type Cache struct {
	log    logr.Logger
	now    func() time.Time // the clock of tombstones
	mu     sync.Mutex
	types  map[string]*typeState
	nextID uint64
}

// New returns an empty Cache. log receives a line per update, at V(1).
func New(log logr.Logger) *Cache {
	return &Cache{log: log, now: time.Now, types: map[string]*typeState{}}
}

// typeState is the resources of one type URL and the watches on them.
type typeState struct {
	url string
	// fullState types (listeners, clusters) are sent whole in the state of the world.
	fullState bool
	resources map[string]entry
	version   string
	// all is the list of every resource sorted by name, the body of a wildcard response of
	// a full-state type; nil until needed after each change.
	all []*anypb.Any

	sotw  map[uint64]*sotwWatch
	delta map[uint64]*deltaWatch

	// seq counts the updates that changed the type; each entry records the one that last
	// changed it. sets, seeds and setUse serve the tokens of sotw_named.go.
	seq uint64
	// deleted are the tombstones: the update that deleted each name not created again
	// since, kept long enough for a delta client's ACK to be told what it lost
	// (tombstones.go).
	deleted tombstones
	sets    map[setKey]*nameSet
	seed    maphash.Seed
	setUse  uint64
}

// entry is one stored resource.
type entry struct {
	version string
	any     *anypb.Any
	// seq is the update of the type that last changed the entry.
	seq uint64
}

func (c *Cache) typeState(url string) *typeState {
	t := c.types[url]
	if t == nil {
		t = &typeState{url: url, fullState: cachev3.ResourceRequiresFullStateInSotw(url),
			resources: map[string]entry{}, sotw: map[uint64]*sotwWatch{}, delta: map[uint64]*deltaWatch{},
			sets: map[setKey]*nameSet{}, seed: maphash.MakeSeed(), deleted: newTombstones()}
		t.version = t.computeVersion()
		c.types[url] = t
	}
	return t
}

// Update applies changes, each type's as a whole, in Order (types not in Order last, in the
// order given), and answers every open watch subscribed to a changed name. A Change whose
// upserts equal the stored resources changes nothing and wakes nobody. A name both upserted
// and deleted in one Change is an error, and nothing is applied.
func (c *Cache) Update(changes ...Change) error {
	for _, ch := range changes {
		deleted := make(map[string]bool, len(ch.Delete))
		for _, n := range ch.Delete {
			deleted[n] = true
		}
		for _, r := range ch.Upsert {
			if deleted[r.Name] {
				return errors.New("xds cache: " + ch.TypeURL + " " + r.Name + " is both updated and deleted")
			}
		}
	}
	changes = slices.Clone(changes) // the caller's slice keeps its order
	slices.SortStableFunc(changes, func(a, b Change) int { return cmp.Compare(orderOf(a.TypeURL), orderOf(b.TypeURL)) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		t := c.typeState(ch.TypeURL)
		if changed := t.apply(ch, c.now()); len(changed) > 0 {
			sotw, delta := t.notify(changed)
			c.log.V(1).Info("Updated xDS resources", "type", ch.TypeURL, "version", t.version, "changed", len(changed),
				"resources", len(t.resources), "answeredStateOfTheWorld", sotw, "answeredDelta", delta)
		}
	}
	return nil
}

func orderOf(url string) int {
	if i := slices.Index(Order, url); i >= 0 {
		return i
	}
	return len(Order)
}

// apply stores ch, made at now, and returns the names whose version changed (removed names
// included).
func (t *typeState) apply(ch Change, now time.Time) map[string]bool {
	changed := map[string]bool{}
	seq := t.seq + 1
	for _, r := range ch.Upsert {
		if old, ok := t.resources[r.Name]; ok && old.version == r.Version {
			continue
		}
		t.resources[r.Name] = entry{version: r.Version, any: &anypb.Any{TypeUrl: t.url, Value: r.Body}, seq: seq}
		t.deleted.forget(r.Name)
		changed[r.Name] = true
	}
	for _, n := range ch.Delete {
		if _, ok := t.resources[n]; ok {
			delete(t.resources, n)
			t.deleted.add(n, seq, now)
			changed[n] = true
		}
	}
	if len(changed) > 0 {
		t.seq = seq
		t.version = t.computeVersion()
		t.all = nil
	}
	t.deleted.prune(now)
	return changed
}

// computeVersion is the hex SHA-256 of every name and version, in name order: equal
// contents give equal versions on every replica.
func (t *typeState) computeVersion() string {
	names := slices.Sorted(maps.Keys(t.resources))
	h := sha256.New()
	for _, n := range names {
		// A name may hold any byte but NUL never appears in a hex version: unambiguous.
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(t.resources[n].version))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// allSorted returns every resource, sorted by name (shared; read-only).
func (t *typeState) allSorted() []*anypb.Any {
	if t.all == nil {
		names := slices.Sorted(maps.Keys(t.resources))
		t.all = make([]*anypb.Any, len(names))
		for i, n := range names {
			t.all[i] = t.resources[n].any
		}
	}
	return t.all
}

// notify answers the watches that see a changed name and returns how many of each kind it
// answered; each answered watch is removed (a watch is answered once: the server opens a
// new one with the client's next request).
func (t *typeState) notify(changed map[string]bool) (sotw, delta int) {
	for id, w := range t.sotw {
		if r := t.sotwResponse(w, changed); r != nil {
			delete(t.sotw, id)
			w.ch <- r
			sotw++
		}
	}
	for id, w := range t.delta {
		if r := t.deltaResponse(w, changed); r != nil {
			delete(t.delta, id)
			w.ch <- r
			delta++
		}
	}
	return sotw, delta
}

// register adds w to watches, under c.mu, and returns the function that removes it.
func register[W any](c *Cache, watches map[uint64]W, w W) func() {
	c.nextID++
	id := c.nextID
	watches[id] = w
	return func() {
		c.mu.Lock()
		delete(watches, id)
		c.mu.Unlock()
	}
}

// Fetch is the REST variant of xDS, which Warden does not serve.
func (c *Cache) Fetch(context.Context, *cachev3.Request) (cachev3.Response, error) {
	return nil, errors.New("xds cache: fetching over REST is not supported; use a gRPC stream")
}

// Versions returns the state-of-the-world version of each type that has been updated, for
// the debug view and logs.
func (c *Cache) Versions() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.types))
	for url, t := range c.types {
		out[url] = t.version
	}
	return out
}

// Watches returns how many watches of a type are open: clients (streams, in delta) that
// have acknowledged what they hold and wait for a change. A client still decoding its last
// response has none open; what changes meanwhile reaches it in one response when it
// acknowledges.
func (c *Cache) Watches(typeURL string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.types[typeURL]
	if t == nil {
		return 0
	}
	return len(t.sotw) + len(t.delta)
}

// Resources returns the stored resources of a type, decoded, by name: for `warden xds dump`
// style views and tests. It decodes every resource; do not call it on a hot path.
func (c *Cache) Resources(typeURL string) (map[string]types.Resource, error) {
	c.mu.Lock()
	entries := maps.Clone(c.typeState(typeURL).resources)
	c.mu.Unlock()
	out := make(map[string]types.Resource, len(entries))
	for n, e := range entries {
		m, err := e.any.UnmarshalNew()
		if err != nil {
			return nil, err
		}
		out[n] = m
	}
	return out, nil
}

// var check: Cache is a go-control-plane cache.
var _ cachev3.Cache = (*Cache)(nil)
