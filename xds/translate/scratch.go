package translate

import (
	"slices"

	"github.com/projectwarden/warden/controller/model"
)

// scratch is what a Translator's calls use for the length of one call and then leave:
// the index of the model's secrets, the set of certificates served, the served TLS vhosts
// and the entry lists of a generation no longer used. Reusing them spares the allocation
// of about a megabyte per call at 10,000 HTTPProxies, and the garbage collection of it.
type scratch struct {
	// secrets are the secrets secretByKey holds, as the model listed them; sorted says
	// they are sorted by name.
	secrets     []*model.Secret
	sorted      bool
	secretByKey map[model.Key]*model.Secret
	certs       map[*model.Secret]bool
	secure      []*model.VirtualHost
	// spare is a generation nothing refers to any more (the one before the previous,
	// or a failed one): its entry lists are reused.
	spare *generation
}

// index updates secretByKey to list, the model's secrets: following the previous list
// along list, both sorted by name, it changes only what differs. When either is not
// sorted, it indexes list afresh.
func (sc *scratch) index(list []*model.Secret) map[model.Key]*model.Secret {
	sorted := slices.IsSortedFunc(list, func(a, b *model.Secret) int { return a.Name.Compare(b.Name) })
	if sc.secretByKey == nil || !sorted || !sc.sorted {
		sc.secretByKey = make(map[model.Key]*model.Secret, len(list))
		sc.secrets = nil
	}
	i, j := 0, 0
	for i < len(list) || j < len(sc.secrets) {
		if i < len(list) && j < len(sc.secrets) && list[i] == sc.secrets[j] {
			i, j = i+1, j+1
			continue
		}
		c := 0
		switch {
		case i == len(list):
			c = 1
		case j == len(sc.secrets):
			c = -1
		default:
			c = list[i].Name.Compare(sc.secrets[j].Name)
		}
		switch {
		case c < 0: // new
			sc.secretByKey[list[i].Name] = list[i]
			i++
		case c > 0: // gone
			delete(sc.secretByKey, sc.secrets[j].Name)
			j++
		default: // replaced
			sc.secretByKey[list[i].Name] = list[i]
			i, j = i+1, j+1
		}
	}
	sc.secrets, sc.sorted = append(sc.secrets[:0], list...), sorted
	return sc.secretByKey
}

// reuse returns s emptied, holding room for n entries: s's own array when it is large
// enough.
func reuse[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, 0, n)
	}
	clear(s[:cap(s)]) // what the old entries pointed to is garbage
	return s[:0]
}
