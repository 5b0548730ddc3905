package translate

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrInvalid is wrapped by every error Translate returns: a generated message failed its
// protoc-gen-validate rules (ValidateAll). It is a translation bug, to be surfaced in
// status and metrics; the resources are not served.
var ErrInvalid = errors.New("invalid Envoy resource")

// ErrReference is wrapped by every error CheckReferences reports: a resource names another
// that is not served, or two resources of one type share a name.
var ErrReference = errors.New("unresolved Envoy reference")

// validator is a message generated with protoc-gen-validate.
type validator interface {
	proto.Message
	ValidateAll() error
}

// invalid wraps a validation failure of what (e.g. `listener ingress_https: filter chain
// "a.example.com": HttpConnectionManager`).
func invalid(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
}

// deterministic marshals packed messages as go-control-plane marshals resources, so that
// the bytes inside an Any, and hence the resource hashes, never depend on map iteration
// order.
var deterministic = proto.MarshalOptions{Deterministic: true}

// pack validates m (ValidateAll: protoc-gen-validate never looks inside an Any, so a packed
// message is validated here or nowhere) and packs it into an Any. what names m in the
// error.
func pack(m validator, what string) (*anypb.Any, error) {
	if err := m.ValidateAll(); err != nil {
		return nil, invalid(what, err)
	}
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, deterministic); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return a, nil
}
