// Package manifest reads Kubernetes manifests from files, directories and
// standard input, and decodes them strictly into typed objects.
//
// It is what `warden check` and the tests use to turn YAML or JSON on disk
// into objects. Read keeps, for every object, the file and line it came
// from, so that every later complaint (a syntax error, an unknown field, a
// policy violation) can point at source:line the way a compiler does.
//
// Reading follows what `kubectl apply -f` accepts: multi-document YAML split
// on "---" lines, JSON streams, `kind: List` expansion, non-recursive
// directories. Decode follows what the API server reports under strict field
// validation.
//
// This package is importable from outside the module but has no API
// stability guarantee: it changes with Warden's command line.
package manifest
