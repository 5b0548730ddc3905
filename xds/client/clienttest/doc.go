// Package clienttest holds the fixtures of the tests that run the xDS client against Warden's
// xDS server (xds/server): a consistent snapshot with every type of resource and its
// references, a server running for the length of a test, and mutual-TLS certificates.
//
// The package is for tests only and has no API stability guarantee.
package clienttest
