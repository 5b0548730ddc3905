package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
	"unique"
	"unsafe"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// addLight summarises a, a resource of r's type, with the given version; see add. Listeners
// and clusters are decoded, for the names they reference, and dropped; the resources of the
// other types are not decoded: their name is read from the top level of their encoding.
func (r *response) addLight(a *anypb.Any, name, version string) error {
	a, err := unwrap(a)
	if err != nil {
		return err
	}
	if a.GetTypeUrl() != r.typeURL {
		return fmt.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), r.typeURL)
	}
	var it entry
	switch r.typeURL {
	case resource.ListenerType, resource.ClusterType:
		m, err := unmarshal(r.typeURL, a)
		if err != nil {
			return err
		}
		it.name = unique.Make(resourceName(m))
		it.refs = encodeRefs(m)
	default:
		field, ok := nameFields[r.typeURL]
		if !ok {
			return fmt.Errorf("unexpected resource type %s", r.typeURL)
		}
		b, err := scanName(a.GetValue(), field)
		if err != nil {
			return fmt.Errorf("decoding a %s: %w", kind(r.typeURL), err)
		}
		it.name = internBytes(b)
	}
	got := it.name.Value()
	if err := checkName(r.typeURL, got, name); err != nil {
		return err
	}
	it.version = r.versionHandle
	if version != r.version {
		it.version = unique.Make(version)
	}
	it.fingerprint = Fingerprint(a)
	r.items = append(r.items, it)
	if r.raw != nil {
		r.raw = append(r.raw, RawResource{Name: got, Version: it.version.Value(), Resource: a})
	}
	return nil
}

// nameFields are the numbers of the name fields of the types a light client does not
// decode.
var nameFields = map[string]protowire.Number{
	resource.RouteType:    fieldNumber(&routev3.RouteConfiguration{}, "name"),
	resource.EndpointType: fieldNumber(&endpointv3.ClusterLoadAssignment{}, "cluster_name"),
	resource.SecretType:   fieldNumber(&tlsv3.Secret{}, "name"),
}

// fieldNumber is the number of m's field name; it panics if m has no such field.
func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// scanName returns the value of the string field field at the top level of the message
// encoded in b (the last, if repeated, as decoding would), without decoding the message.
// Only the framing of the top level is checked.
func scanName(b []byte, field protowire.Number) ([]byte, error) {
	var name []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			name, b = v, b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	if !utf8.Valid(name) {
		return nil, errors.New("the name is not valid UTF-8")
	}
	return name, nil
}

// internBytes interns the string b holds without allocating it: unique.Make copies a
// string it has not seen before, so the temporary string sharing b's memory is not kept.
func internBytes(b []byte) unique.Handle[string] {
	return unique.Make(unsafe.String(unsafe.SliceData(b), len(b)))
}

// encodeRefs encodes the names that the listener or cluster m references (route
// configurations, load assignments, secrets) as one interned string: for each, the index of
// its type in namedTypes (one byte), the length of its name (uvarint) and the name. A light
// client keeps this handle (8 bytes) per listener or cluster, and the many clients of a
// benchmark share the string.
func encodeRefs(m proto.Message) unique.Handle[string] {
	r := &referrer{quiet: true}
	switch m := m.(type) {
	case *listenerv3.Listener:
		r.listener(m)
	case *clusterv3.Cluster:
		r.cluster(m)
	}
	if len(r.refs) == 0 {
		return unique.Handle[string]{}
	}
	var b []byte
	for _, ref := range r.refs {
		b = append(b, byte(slices.Index(namedTypes, ref.typeURL)))
		b = binary.AppendUvarint(b, uint64(len(ref.name)))
		b = append(b, ref.name...)
	}
	return unique.Make(string(b))
}

// decodeRefs calls fn with each reference encoded in h by encodeRefs. The names are
// substrings of h's value.
func decodeRefs(h unique.Handle[string], fn func(typeURL, name string)) {
	if h == (unique.Handle[string]{}) {
		return
	}
	s := h.Value()
	for len(s) > 0 {
		t := namedTypes[s[0]]
		n, w := binary.Uvarint([]byte(s[1:min(len(s), 1+binary.MaxVarintLen64)]))
		start := 1 + w
		fn(t, s[start:start+int(n)])
		s = s[start+int(n):]
	}
}
