package cache

import (
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// What a state-of-the-world client that subscribes by name to route configurations,
// assignments or secrets holds is recorded as a token, not as a map of every name and
// version: Envoys subscribe to thousands of assignments and route configurations each, and
// the server keeps a map per client (0.9 MiB per Envoy at 10,000 HTTPProxies, copied on
// every push). The token says "every name of subscription set S, at the contents of update
// seq": the sets are interned in the type (every Envoy of a fleet subscribes to the same
// names), and each resource remembers the update that last changed it.
//
// The token sits in the server's map under one of the subscribed names (the server drops
// the entries of names no longer subscribed; a lost token only means everything subscribed
// is sent again).

// tokenPrefix starts every token; a resource version never starts with NUL.
const tokenPrefix = "\x00"

// setKey identifies a set of names: a hash of it (with a per-process random seed) and its
// size.
type setKey [2]uint64

// maxSets bounds the interned subscription sets of one type; the least recently used go.
const maxSets = 64

// nameSet is an interned subscription set.
type nameSet struct {
	names map[string]struct{}
	used  uint64
}

// token is what a client was last sent: every name of set, at update seq.
type token struct {
	seq uint64
	set setKey
}

func (k token) String() string {
	return tokenPrefix + strconv.FormatUint(k.seq, 36) + "/" + strconv.FormatUint(k.set[0], 36) + "/" + strconv.FormatUint(k.set[1], 36)
}

// parseToken reads the token of a server map that holds one.
func parseToken(returned map[string]string) (token, bool) {
	if len(returned) != 1 {
		return token{}, false
	}
	for _, v := range returned {
		parts := strings.Split(strings.TrimPrefix(v, tokenPrefix), "/")
		if !strings.HasPrefix(v, tokenPrefix) || len(parts) != 3 {
			return token{}, false
		}
		var nums [3]uint64
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 36, 64)
			if err != nil {
				return token{}, false
			}
			nums[i] = n
		}
		return token{seq: nums[0], set: setKey{nums[1], nums[2]}}, true
	}
	return token{}, false
}

// keyOf hashes a set of names, independently of their order.
func (t *typeState) keyOf(names map[string]struct{}) setKey {
	k := setKey{0, uint64(len(names))}
	for n := range names {
		k[0] ^= maphash.String(t.seed, n)
	}
	return k
}

// intern records names as set k, evicting the least recently used set beyond maxSets.
func (t *typeState) intern(k setKey, names map[string]struct{}) {
	t.setUse++
	if s := t.sets[k]; s != nil {
		s.used = t.setUse
		return
	}
	held := make(map[string]struct{}, len(names))
	for n := range names {
		held[n] = struct{}{}
	}
	t.sets[k] = &nameSet{names: held, used: t.setUse}
	if len(t.sets) > maxSets {
		oldest, at := setKey{}, t.setUse
		for key, s := range t.sets {
			if s.used < at {
				oldest, at = key, s.used
			}
		}
		delete(t.sets, oldest)
	}
}

// namedResponse is sotwResponse for a client subscribing by name to a type that is not sent
// whole (route configurations, assignments, secrets).
func (t *typeState) namedResponse(w *sotwWatch, changed map[string]bool) cachev3.Response {
	subscribed := w.sub.SubscribedResources()
	first := changed == nil && w.req.GetVersionInfo() == ""
	if !w.keyed {
		// Once per watch: the subscription does not change while the watch is open.
		w.key, w.keyed = t.keyOf(subscribed), true
	}
	key := w.key
	tok, known := parseToken(w.sub.ReturnedResources())
	var held map[string]struct{}
	if s := t.sets[tok.set]; known && s != nil {
		held = s.names
	} else {
		known = false
	}
	if changed == nil && !first && known && tok.set == key && tok.seq == t.seq {
		// The usual ACK: nothing changed since the response it acknowledges.
		return nil
	}
	var send []string
	consider := func(n string) {
		e, ok := t.resources[n]
		if !ok {
			return
		}
		if _, had := held[n]; !known || !had || e.seq > tok.seq {
			send = append(send, n)
		}
	}
	if changed != nil {
		for n := range changed {
			if _, ok := subscribed[n]; ok {
				consider(n)
			}
		}
	} else {
		for n := range subscribed {
			consider(n)
		}
	}
	if len(send) == 0 && !first {
		return nil
	}
	slices.Sort(send)
	list := make([]*anypb.Any, len(send))
	for i, n := range send {
		list[i] = t.resources[n].any
	}
	var returned map[string]string
	for n := range subscribed {
		t.intern(key, subscribed)
		returned = map[string]string{n: token{seq: t.seq, set: key}.String()}
		break
	}
	return &sotwResponse{req: w.req, version: t.version, resources: list, returned: returned}
}
