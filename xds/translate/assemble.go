package translate

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The big resources are one shell (a name, an address, …) around a long repeated field:
// ingress_http holds the insecure side of every vhost, ingress_https one filter chain per
// TLS vhost. A change touches one element, so their encodings are assembled from the
// elements' memoized encodings instead of marshalling the whole message again.
//
// This gives exactly the bytes of cachev3.MarshalResource (deterministic proto.Marshal):
// Go's protobuf runtime writes a message's fields in field-number order, a repeated message
// field as one tag and length-prefixed encoding per element, and a nested message exactly
// as it marshals on its own (deterministic marshalling only orders map entries, at any
// depth). TestAssembleMatchesMarshal checks it byte for byte.

// shellSplit is the encoding of a shell message whose repeated message field f is unset:
// head holds its fields numbered below f, tail those above, so that the message with f's
// elements encodes as head, the elements, tail (see assemble).
type shellSplit struct {
	head, tail []byte
	field      protowire.Number
}

// splitShell encodes shell, which must leave the repeated message field named field
// empty, around that field.
func splitShell(shell proto.Message, field protoreflect.Name) (shellSplit, error) {
	fd := shell.ProtoReflect().Descriptor().Fields().ByName(field)
	if fd == nil || !fd.IsList() || fd.Message() == nil {
		return shellSplit{}, fmt.Errorf("%s has no repeated message field %s", shell.ProtoReflect().Descriptor().FullName(), field)
	}
	if shell.ProtoReflect().Has(fd) || len(shell.ProtoReflect().GetUnknown()) > 0 {
		// Unknown fields are written last, after the tail: Translate never sets them.
		return shellSplit{}, fmt.Errorf("%s: the shell sets %s or unknown fields", shell.ProtoReflect().Descriptor().FullName(), field)
	}
	head, tail := proto.Clone(shell), proto.Clone(shell)
	clearFields(head.ProtoReflect(), func(n protowire.Number) bool { return n > fd.Number() })
	clearFields(tail.ProtoReflect(), func(n protowire.Number) bool { return n < fd.Number() })
	s := shellSplit{field: fd.Number()}
	var err error
	if s.head, err = deterministic.Marshal(head); err != nil {
		return shellSplit{}, fmt.Errorf("encoding %s: %w", fd.FullName(), err)
	}
	if s.tail, err = deterministic.Marshal(tail); err != nil {
		return shellSplit{}, fmt.Errorf("encoding %s: %w", fd.FullName(), err)
	}
	return s, nil
}

// clearFields clears the populated fields of m whose number drop selects.
func clearFields(m protoreflect.Message, drop func(protowire.Number) bool) {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if drop(fd.Number()) {
			fields = append(fields, fd)
		}
		return true
	})
	for _, fd := range fields {
		m.Clear(fd)
	}
}

// assemble is the encoding of the shell with parts, each an element's deterministic
// encoding, as its repeated field, in order.
func (s shellSplit) assemble(parts [][]byte) []byte {
	n := len(s.head) + len(s.tail)
	tag := protowire.SizeTag(s.field)
	for _, p := range parts {
		n += tag + protowire.SizeBytes(len(p))
	}
	b := make([]byte, 0, n)
	b = append(b, s.head...)
	for _, p := range parts {
		b = protowire.AppendTag(b, s.field, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	return append(b, s.tail...)
}

// alias points each of parts, the encodings assemble was given, at its copy inside b, what
// assemble returned for them (or the same bytes from elsewhere): a part kept for later
// assemblies then shares the resource's memory instead of holding a copy of it.
func (s shellSplit) alias(b []byte, parts [][]byte) {
	at := len(s.head)
	tag := protowire.SizeTag(s.field)
	for i, p := range parts {
		at += tag + protowire.SizeVarint(uint64(len(p)))
		parts[i] = b[at : at+len(p) : at+len(p)]
		at += len(p)
	}
}
