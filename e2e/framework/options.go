package framework

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// DefaultCRDDirectory is where Start looks for CRDs, relative to the repository
// root, when WithCRDDirectories is not given. It may not exist yet.
const DefaultCRDDirectory = "charts/warden/crds"

// Option configures Start.
type Option func(*options)

type options struct {
	crdDirs      []string
	crdDirsSet   bool
	addToScheme  []func(*runtime.Scheme) error
	webhooks     *envtest.WebhookInstallOptions
	kubectl      string
	startTimeout time.Duration
}

// WithCRDDirectories installs the CRDs (YAML or JSON files) found in dirs instead
// of those in DefaultCRDDirectory. Relative paths are taken from the repository
// root. A directory that does not exist fails Start; with no dirs, no CRDs are
// installed.
func WithCRDDirectories(dirs ...string) Option {
	return func(o *options) {
		o.crdDirs = append([]string(nil), dirs...)
		o.crdDirsSet = true
	}
}

// WithScheme adds types to the scheme of Env.Client, e.g.
// WithScheme(contourv1.AddToScheme). The scheme already holds client-go's
// built-in types and apiextensions.k8s.io/v1. envtest also uses it to decide
// which CRDs get conversion webhooks.
func WithScheme(addToScheme ...func(*runtime.Scheme) error) Option {
	return func(o *options) { o.addToScheme = append(o.addToScheme, addToScheme...) }
}

// WithWebhookInstallOptions has envtest install the given validating and
// mutating webhook configurations (read from opts.Paths or given as objects in
// opts.ValidatingWebhooks and opts.MutatingWebhooks). envtest generates a CA and
// a serving certificate for localhost, sets every caBundle, and rewrites each
// clientConfig.service that has a path into the URL
// https://LocalServingHost:LocalServingPort/PATH (give the path without a leading
// slash). After Start, Env.WebhookInstallOptions tells the host, port and
// certificate directory (tls.crt, tls.key) that the test's webhook server must
// listen with; the server must be up before the first request it should see.
func WithWebhookInstallOptions(opts envtest.WebhookInstallOptions) Option {
	return func(o *options) { o.webhooks = &opts }
}

// WithKubectl sets the kubectl binary that Env.Kubectl runs (default: "kubectl"
// from PATH).
func WithKubectl(path string) Option {
	return func(o *options) { o.kubectl = path }
}

// WithStartTimeout sets how long kube-apiserver and etcd may each take to start
// (default: KUBEBUILDER_CONTROLPLANE_START_TIMEOUT if set, else 90s, since these
// machines are small and often busy).
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) { o.startTimeout = d }
}
