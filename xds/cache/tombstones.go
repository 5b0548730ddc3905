package cache

import "time"

// tombstoneTTL is how long a deleted name is remembered for delta clients. A delta client
// needs a tombstone only if the deletion happens between a response and its next request
// (the ACK window, milliseconds for Envoy): a client whose watch is open is told of the
// deletion as it happens. Tombstones therefore need not live for the life of the process,
// where a cluster with churn (namespaces of CI runs created and deleted) would grow them
// without bound. A request whose token is older than the newest tombstone dropped is handled
// without them (see stale).
const tombstoneTTL = 10 * time.Minute

// tombstone is the update that deleted a name, and when.
type tombstone struct {
	seq uint64
	at  time.Time
}

// tombstones are the names of one type deleted and not created again since, for
// tombstoneTTL at least.
type tombstones struct {
	byName map[string]tombstone
	// horizon is the newest update whose tombstones were dropped: a token older than it may
	// miss removals.
	horizon   uint64
	lastPrune time.Time
}

func newTombstones() tombstones { return tombstones{byName: map[string]tombstone{}} }

// add records that update seq deleted name at now.
func (d *tombstones) add(name string, seq uint64, now time.Time) {
	d.byName[name] = tombstone{seq: seq, at: now}
}

// forget drops the tombstone of a name created again.
func (d *tombstones) forget(name string) { delete(d.byName, name) }

// deletedAfter reports whether name was deleted by an update after seq.
func (d *tombstones) deletedAfter(name string, seq uint64) bool {
	ts, ok := d.byName[name]
	return ok && ts.seq > seq
}

// stale reports whether a client last brought to update seq may have lost a name whose
// tombstone was dropped.
func (d *tombstones) stale(seq uint64) bool { return seq < d.horizon }

// prune drops the tombstones older than tombstoneTTL. It scans them at most four times per
// TTL, so a tombstone lives between one and one and a quarter TTLs.
func (d *tombstones) prune(now time.Time) {
	if now.Sub(d.lastPrune) < tombstoneTTL/4 {
		return
	}
	d.lastPrune = now
	for n, ts := range d.byName {
		if now.Sub(ts.at) >= tombstoneTTL {
			delete(d.byName, n)
			d.horizon = max(d.horizon, ts.seq)
		}
	}
}
