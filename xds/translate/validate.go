package translate

import (
	"errors"
	"fmt"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Validate runs ValidateAll on every resource of r and, since protoc-gen-validate never
// looks inside an Any, on every message packed in them, at any depth. Translate already
// guarantees this; Validate checks resources from elsewhere (for example those an xDS
// client received) the same way. A packed type that is not linked into the binary is an
// error. All failures are reported, each naming its resource.
func Validate(r *Messages) error {
	var errs []error
	byType := r.ByType()
	for _, typ := range typeOrder {
		for _, res := range byType[typ] {
			what := kindOf(typ) + " " + cachev3.GetResourceName(res)
			if err := validateDeep(res.ProtoReflect(), what); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// typeOrder is the order of the ADS types: clusters, endpoints, listeners, routes,
// secrets.
var typeOrder = []resource.Type{
	resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType,
}

// validateDeep validates m if it is generated with protoc-gen-validate, then every Any
// inside it.
func validateDeep(m protoreflect.Message, what string) error {
	var errs []error
	if v, ok := m.Interface().(validator); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, invalid(what, err))
		}
	}
	forEachAny(m, func(a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %s: %w", ErrInvalid, what, a.GetTypeUrl(), err))
			return
		}
		if err := validateDeep(inner.ProtoReflect(), what+": "+string(inner.ProtoReflect().Descriptor().Name())); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// forEachAny calls fn with every Any directly or indirectly inside m, not descending into
// the Anys themselves.
func forEachAny(m protoreflect.Message, fn func(*anypb.Any)) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		fn(a)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				forEachAny(l.Get(i).Message(), fn)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				forEachAny(mv.Message(), fn)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			forEachAny(v.Message(), fn)
		}
		return true
	})
}

// unpack returns the message in a, or nil if a holds something else (or is malformed).
func unpack[T proto.Message](a *anypb.Any, into T) (T, bool) {
	var zero T
	if a == nil || !a.MessageIs(into) {
		return zero, false
	}
	if err := a.UnmarshalTo(into); err != nil {
		return zero, false
	}
	return into, true
}
