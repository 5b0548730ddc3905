package translate

import (
	"bytes"
	"slices"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// checkResources checks what every Resources must satisfy, decoded: ValidateAll at every
// depth, references resolved, a consistent go-control-plane snapshot, no deprecated Envoy
// field, and hashes and encodings for exactly the resources there are, each encoding
// exactly cachev3.MarshalResource's bytes for the message it decodes to (assembled
// resources must reproduce them).
func checkResources(t testing.TB, r *Resources) {
	t.Helper()
	msgs := decode(t, r)
	if err := Validate(msgs); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := CheckReferences(msgs); err != nil {
		t.Errorf("CheckReferences: %v", err)
	}
	snap, err := cachev3.NewSnapshot("v", msgs.ByType())
	if err != nil {
		t.Fatalf("NewSnapshot: %v", err)
	}
	if err := snap.Consistent(); err != nil {
		t.Errorf("snapshot not consistent: %v", err)
	}
	for typ, list := range msgs.ByType() {
		names := make([]string, len(list))
		for i, res := range list {
			names[i] = cachev3.GetResourceName(res)
			checkNotDeprecated(t, res.ProtoReflect(), kindOf(typ)+" "+names[i])
			b, err := cachev3.MarshalResource(res)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := r.Hashes[typ][names[i]], cachev3.HashResource(b); got != want {
				t.Errorf("hash of %s %s = %q, want %q", kindOf(typ), names[i], got, want)
			}
			if !bytes.Equal(r.Encoded[typ][names[i]], b) {
				t.Errorf("encoding of %s %s differs from cachev3.MarshalResource", kindOf(typ), names[i])
			}
		}
		if !slices.IsSorted(names) {
			t.Errorf("%ss are not sorted: %q", kindOf(typ), names)
		}
		if len(r.Hashes[typ]) != len(list) || len(r.Encoded[typ]) != len(list) {
			t.Errorf("%d %s hashes and %d encodings for %d resources", len(r.Hashes[typ]), kindOf(typ), len(r.Encoded[typ]), len(list))
		}
	}
	if !slices.IsSorted(r.Missing) {
		t.Errorf("Missing is not sorted: %q", r.Missing)
	}
}

// decode is r.Decode, failing t on an error.
func decode(t testing.TB, r *Resources) *Messages {
	t.Helper()
	msgs, err := r.Decode()
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return msgs
}

// checkNotDeprecated fails for any deprecated field or enum value set in m, inside packed
// messages too: Envoy warns about them, and may drop them.
func checkNotDeprecated(t testing.TB, m protoreflect.Message, what string) {
	t.Helper()
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		m = inner.ProtoReflect()
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := what + ": " + string(fd.FullName())
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			t.Errorf("%s is deprecated", at)
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				checkValue(t, fd, l.Get(i), at)
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				checkValue(t, fd.MapValue(), mv, at)
				return true
			})
		default:
			checkValue(t, fd, v, at)
		}
		return true
	})
}

func checkValue(t testing.TB, fd protoreflect.FieldDescriptor, v protoreflect.Value, at string) {
	t.Helper()
	switch {
	case fd.Message() != nil:
		checkNotDeprecated(t, v.Message(), at)
	case fd.Enum() != nil:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return
		}
		if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
			t.Errorf("%s: enum value %s is deprecated", at, ev.Name())
		}
	}
}
