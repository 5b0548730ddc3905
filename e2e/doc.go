// Package e2e holds Warden's end-to-end tests: a real kube-apiserver and etcd (built by
// `make envtest-assets`), Warden running against them, and the real kubectl.
package e2e
