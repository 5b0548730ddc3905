package manifest

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"
)

// Decode converts a document into a new typed object of the type the
// scheme registers for its apiVersion and kind, strictly, as the API server
// does under strict field validation (`kubectl apply --validate=strict`):
// an unknown field is an error that names its path, such as
// `team-a.yaml:14: strict decoding error: unknown field "spec.virtualhost.fqdnn"`,
// and so is a value of the wrong type.
//
// Duplicate fields are errors too, but Read reports them, since an
// Unstructured object cannot hold them. Decode neither defaults nor
// converts: the object is exactly what the document says, in the
// document's version.
//
// The scheme must not be nil. All errors are *Error at the document's
// Source and Line. A kind the
// scheme does not know is ErrUnsupportedKind, reported as
// "unsupported kind X (apiVersion Y)".
func Decode(d Document, s *runtime.Scheme) (runtime.Object, error) {
	obj, err := decode(d, s)
	if err != nil {
		return nil, &Error{Source: d.Source, Line: d.Line, Err: err}
	}
	return obj, nil
}

func decode(d Document, s *runtime.Scheme) (runtime.Object, error) {
	if d.Object == nil {
		return nil, errors.New("document has no object")
	}
	if err := checkTypeMeta(d.Object.Object); err != nil {
		return nil, err
	}
	gvk := d.Object.GroupVersionKind()
	if !s.Recognizes(gvk) {
		return nil, fmt.Errorf("%w %s (apiVersion %s)", ErrUnsupportedKind, gvk.Kind, gvk.GroupVersion())
	}
	obj, err := s.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("new %s: %w", gvk.Kind, err)
	}
	data, err := d.Object.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", gvk.Kind, err)
	}
	strictErrs, err := kjson.UnmarshalStrict(data, obj)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", gvk.Kind, err)
	}
	if len(strictErrs) > 0 {
		// The same error the API server wraps its strict field validation
		// failures in, so the message reads as kubectl's does.
		return nil, runtime.NewStrictDecodingError(strictErrs)
	}
	return obj, nil
}
