// Package framework starts a real Kubernetes control plane for end-to-end tests.
//
// [Start] runs kube-apiserver and etcd through controller-runtime's envtest, using
// the binaries that `make tools` (or `make envtest-assets`) builds from pinned Go
// modules into .cache/tools/bin and exports as KUBEBUILDER_ASSETS. It installs the
// chart's CRDs, writes a kubeconfig for the real kubectl, and stops everything when
// the test ends:
//
//	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme))
//	out, _, err := env.Kubectl(ctx, "get", "httpproxies", "-A")
//
// Tests that need a webhook served by the test process pass
// [WithWebhookInstallOptions]; envtest then creates the webhook configurations,
// pointed at a local address with a certificate from its own CA (see
// [Env.WebhookInstallOptions]).
package framework
