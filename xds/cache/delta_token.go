package cache

import "strings"

// A delta client's state is recorded, like a state-of-the-world client's (sotw_named.go),
// as a token instead of a map of every name and version: "at update seq, every resource
// that existed then, of those subscribed by name (an interned set) or, for a wildcard
// client, of all". The server keeps the token under fullStateKey, which it never removes
// (a delta server removes only the names a client unsubscribes from). Removals use the
// type's tombstones: the update that deleted each name not created again since.

// deltaToken is what a delta client was last sent.
type deltaToken struct {
	seq      uint64
	set      setKey
	wildcard bool
	// names is the interned set of set, nil when it has been evicted.
	names map[string]struct{}
}

func (k deltaToken) String() string {
	w := "n"
	if k.wildcard {
		w = "w"
	}
	return token{seq: k.seq, set: k.set}.String() + "/" + w
}

// holds reports whether the client held name at the token's update, if it existed then.
func (k deltaToken) holds(name string) bool {
	if k.wildcard {
		return true
	}
	_, ok := k.names[name]
	return ok
}

// deltaToken reads the token in a server map, if it has one whose set is still interned.
func (t *typeState) deltaToken(returned map[string]string) (deltaToken, bool) {
	v, ok := returned[fullStateKey]
	if !ok {
		return deltaToken{}, false
	}
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return deltaToken{}, false
	}
	tok, ok := parseToken(map[string]string{"": v[:i]})
	if !ok {
		return deltaToken{}, false
	}
	k := deltaToken{seq: tok.seq, set: tok.set, wildcard: v[i+1:] == "w"}
	if s := t.sets[k.set]; s != nil {
		k.names = s.names
	} else if !k.wildcard || k.set != (setKey{}) {
		return deltaToken{}, false
	}
	return k, true
}

// lostRemovals reports whether a request's server map holds a token from which the
// removals since cannot be told: its tombstones were dropped (tombstoneTTL), or its
// subscription set is no longer interned. tok and ok are what deltaToken read from it.
func (t *typeState) lostRemovals(returned map[string]string, tok deltaToken, ok bool) bool {
	if _, has := returned[fullStateKey]; !has {
		return false // no token: a new stream, compared name by name
	}
	return !ok || t.deleted.stale(tok.seq)
}

// newDeltaToken is the token of a response built now for w.
func (t *typeState) newDeltaToken(w *deltaWatch) deltaToken {
	subscribed := w.sub.SubscribedResources()
	k := deltaToken{seq: t.seq, wildcard: w.sub.IsWildcard()}
	if len(subscribed) > 0 {
		k.set = t.keyOf(subscribed)
		t.intern(k.set, subscribed)
	}
	return k
}
