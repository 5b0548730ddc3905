package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/projectwarden/warden/controller/model"
)

// Resources are the Envoy resources of one model, as served: encoded and hashed, by type
// and name. Decode gives them as messages.
//
// Every resource, and every message packed inside one, has passed ValidateAll. Every name a
// resource refers to (RDS route configuration, cluster, EDS service name, SDS secret) is
// served in the same Resources (CheckReferences), and every route configuration and
// ClusterLoadAssignment is referred to, so the set is a consistent go-control-plane
// snapshot (Messages.ByType gives its map).
//
// Resources hold no messages, so that a Translator need not keep a whole model's worth of
// them between calls (encodings are what it reuses, and what an xDS server sends). They
// are read-only: a Translator shares the maps and encodings it did not rebuild with the
// Resources it returned before, and reuses them in later calls. They share no memory with
// the model.
type Resources struct {
	// Hashes maps a type URL (resource.ListenerType, …) and a resource name to the
	// resource's content hash: the hex SHA-256 of its deterministic protobuf encoding,
	// computed as go-control-plane computes delta xDS versions (cachev3.HashResource of
	// cachev3.MarshalResource). Every replica translating the same model computes the same
	// hashes, so they serve as resource versions.
	Hashes map[resource.Type]map[string]string

	// Encoded maps a type URL and a resource name to the resource's deterministic
	// encoding, exactly the bytes of cachev3.MarshalResource, which Hashes hashes: an xDS
	// server sends them as the resource's Any value without marshalling the resource again
	// (ingress_http and ingress_https are megabytes at scale). A Translator gives a resource
	// it did not rebuild the same slice as before. The bytes must not be changed.
	Encoded map[resource.Type]map[string][]byte

	// Missing lists, sorted, what could not be served because a Secret's data lacks a key
	// Envoy needs (the caller fills model.Secret.Data): each entry names the Secret, the
	// key, and what was left out. See the package documentation.
	Missing []string
}

// Same reports whether r holds the very resources of type typ that prev did: prev is an
// earlier result of the same Translator, which hands the Hashes and Encoded maps of a type
// it did not change on to its next result as they are (and never changes a map it handed
// out). It is false for a nil prev, and whenever the type changed, but may also be false
// for a type rebuilt identically; a caller compares hashes then.
func (r *Resources) Same(prev *Resources, typ resource.Type) bool {
	if prev == nil {
		return false
	}
	a, b := r.Hashes[typ], prev.Hashes[typ]
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Translate turns a routing model into Envoy resources; see the package documentation for
// the shapes. It is pure: it reads m (and the Secret data in it) without changing it, and
// the same model and options always give the same Resources, sorted, with the same hashes.
// It is NewTranslator(o).Translate(m): a controller that translates every change keeps a
// Translator instead, which rebuilds only what changed.
//
// An error wraps ErrInvalid: a generated message failed its ValidateAll, a translation bug
// (or a model that violates its own documented invariants), never a user error. The error
// names the resource and the message; nothing is returned with it. m must not be nil.
func Translate(m *model.Model, o Options) (*Resources, error) {
	return NewTranslator(o).Translate(m)
}

// culprit names the virtual host that makes an invalid route configuration invalid, so
// that the error names what the model calls it (": virtual host a.example.com"); "" for
// other resources. Validating each virtual host on its own as well would name it too, but
// would double the cost of validating routes, the bulk of all validation.
func culprit(res types.Resource) string {
	rc, ok := res.(*routev3.RouteConfiguration)
	if !ok {
		return ""
	}
	for _, vh := range rc.GetVirtualHosts() {
		if vh.ValidateAll() != nil {
			return ": virtual host " + vh.GetName()
		}
	}
	return ""
}

// Version is a content hash of all the resources of one type: the hex SHA-256 of their
// names and hashes, in name order. It is a state-of-the-world version that every replica
// computes identically; it is "" for an unknown type.
func (r *Resources) Version(typ resource.Type) string {
	hashes, ok := r.Hashes[typ]
	if !ok {
		return ""
	}
	names := make([]string, 0, len(hashes))
	for n := range hashes {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		// Names may contain any byte but NUL never appears in a hex hash, so the
		// encoding is unambiguous.
		fmt.Fprintf(h, "%s\x00%s\x00", n, hashes[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// kindOf names a resource type in errors: "listener", "route configuration", ….
func kindOf(typ resource.Type) string {
	switch typ {
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route configuration"
	case resource.ClusterType:
		return "cluster"
	case resource.EndpointType:
		return "cluster load assignment"
	case resource.SecretType:
		return "secret"
	default:
		return typ
	}
}

// translator holds one Translate call's model and options and what its stages learn
// about them, notably what depends on Secret data: it is computed anew on every call.
type translator struct {
	m *model.Model
	o Options

	// secretByKey are the model's secrets by name.
	secretByKey map[model.Key]*model.Secret
	// dropped are the clusters not served because their upstream CA has no data
	// (generation.buildClusters decides, first).
	dropped map[string]bool
	// secure are the TLS vhosts served on the HTTPS listener, sorted by FQDN: those
	// whose certificate (and client CA and CRL, if any) have data. fallback says which
	// of them also use the fallback certificate, fallbackCert, when it has data.
	secure       []*model.VirtualHost
	fallback     map[string]bool
	fallbackCert model.Key
	// certs are the certificates served over SDS.
	certs map[*model.Secret]bool
	// missing are the notes for Resources.Missing.
	missing notes
}

// newTranslator decides what depends on Secret data across model items, in space sc
// keeps from call to call.
func newTranslator(m *model.Model, o Options, sc *scratch) *translator {
	clear(sc.certs)
	if sc.certs == nil {
		sc.certs = make(map[*model.Secret]bool, len(m.Secrets))
	}
	t := &translator{
		m:           m,
		o:           o,
		secretByKey: sc.index(m.Secrets),
		dropped:     map[string]bool{},
		fallback:    map[string]bool{},
		secure:      reuse(sc.secure, len(m.VirtualHosts)),
		certs:       sc.certs,
		missing:     notes{},
	}
	t.checkVirtualHostSecrets()
	sc.secure = t.secure
	return t
}

// notes is a set of messages.
type notes map[string]struct{}

func (n notes) addf(format string, args ...any) { n[fmt.Sprintf(format, args...)] = struct{}{} }

func (n notes) sorted() []string {
	if len(n) == 0 {
		return nil
	}
	out := make([]string, 0, len(n))
	for s := range n {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// joinKeys renders secret keys for messages: "tls.crt/tls.key".
func joinKeys(keys []string) string { return strings.Join(keys, "/") }
