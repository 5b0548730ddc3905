package model

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Key names a namespaced object. It renders as "namespace/name" in YAML and JSON, also as
// a map key.
type Key struct {
	Namespace string
	Name      string
}

// KeyOf returns the key of a Kubernetes object.
func KeyOf(obj metav1.Object) Key {
	return Key{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// String returns "namespace/name".
func (k Key) String() string { return k.Namespace + "/" + k.Name }

// IsZero reports whether k names nothing.
func (k Key) IsZero() bool { return k == Key{} }

// Compare orders keys by namespace, then name.
func (k Key) Compare(o Key) int {
	if c := strings.Compare(k.Namespace, o.Namespace); c != 0 {
		return c
	}
	return strings.Compare(k.Name, o.Name)
}

// MarshalText renders the key as "namespace/name".
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses "namespace/name"; the first "/" splits.
func (k *Key) UnmarshalText(b []byte) error {
	k.Namespace, k.Name, _ = strings.Cut(string(b), "/")
	return nil
}

// refKey resolves a secret reference as Contour does: "namespace/name" names another
// namespace (the first "/" splits), a bare name is in the referrer's namespace.
func refKey(ref, referrerNamespace string) Key {
	if ns, name, ok := strings.Cut(ref, "/"); ok && ns != "" {
		return Key{Namespace: ns, Name: name}
	}
	return Key{Namespace: referrerNamespace, Name: strings.TrimPrefix(ref, "/")}
}
