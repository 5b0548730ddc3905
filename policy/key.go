package policy

import "strings"

// Key names a namespaced object.
type Key struct {
	Namespace string
	Name      string
}

// String returns "namespace/name" (or "name" for cluster-scoped objects), the form used in
// messages and in Rego input.
func (k Key) String() string {
	if k.Namespace == "" {
		return k.Name // cluster-scoped
	}
	return k.Namespace + "/" + k.Name
}

// less orders keys by namespace, then name.
func (k Key) less(o Key) bool {
	if k.Namespace != o.Namespace {
		return k.Namespace < o.Namespace
	}
	return k.Name < o.Name
}

// secretRef resolves a secret reference as Contour does: "namespace/name" names another
// namespace (the first "/" splits), a bare name is in the referrer's namespace.
func secretRef(ref, referrerNamespace string) Key {
	if ns, name, ok := strings.Cut(ref, "/"); ok && ns != "" {
		return Key{Namespace: ns, Name: name}
	}
	return Key{Namespace: referrerNamespace, Name: strings.TrimPrefix(ref, "/")}
}
