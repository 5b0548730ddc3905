package framework

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Env is a running control plane (kube-apiserver and etcd) for one test.
type Env struct {
	env        *envtest.Environment
	cfg        *rest.Config
	client     client.Client
	scheme     *runtime.Scheme
	kubeconfig string
	kubectl    string
	kubeCache  string
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS (or the
// repository's .cache/tools/bin), installs CRDs and webhooks as the options say,
// writes a kubeconfig into t.TempDir(), and stops the control plane when the
// test ends. Any failure is fatal to the test.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{kubectl: "kubectl"}
	for _, opt := range opts {
		opt(&o)
	}

	root, rootErr := repoRoot()
	assets, err := assetsDir(root)
	if err != nil {
		t.Fatalf("framework: %v", err)
	}
	crdDirs, err := resolveCRDDirs(root, rootErr, o)
	if err != nil {
		t.Fatalf("framework: %v", err)
	}

	scheme := runtime.NewScheme()
	adders := append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme}, o.addToScheme...)
	for _, add := range adders {
		if err := add(scheme); err != nil {
			t.Fatalf("framework: building the scheme: %v", err)
		}
	}

	te := &envtest.Environment{
		Scheme:                   scheme,
		CRDDirectoryPaths:        crdDirs,
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: startTimeout(o.startTimeout),
	}
	te.ControlPlane.APIServer = &envtest.APIServer{Path: filepath.Join(assets, "kube-apiserver")}
	te.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(assets, "etcd")}
	if o.webhooks != nil {
		te.WebhookInstallOptions = *o.webhooks
	}

	cfg, err := te.Start()
	if err != nil {
		_ = te.Stop() // whatever did start must not outlive the test
		t.Fatalf("framework: starting kube-apiserver and etcd from %s: %v "+
			"(KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT=true shows their logs)", assets, err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("framework: stopping the control plane: %v", err)
		}
	})

	dir := t.TempDir()
	e := &Env{env: te, cfg: cfg, scheme: scheme, kubectl: o.kubectl,
		kubeconfig: filepath.Join(dir, "kubeconfig"), kubeCache: filepath.Join(dir, "kube-cache")}
	if err := os.WriteFile(e.kubeconfig, te.KubeConfig, 0o600); err != nil {
		t.Fatalf("framework: writing the kubeconfig: %v", err)
	}
	if e.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatalf("framework: creating the client: %v", err)
	}
	return e
}

// Client returns a controller-runtime client, as cluster-admin, whose scheme
// holds client-go's types, apiextensions.k8s.io/v1 and those added with WithScheme.
func (e *Env) Client() client.Client { return e.client }

// Scheme returns the scheme of Client.
func (e *Env) Scheme() *runtime.Scheme { return e.scheme }

// Config returns a copy of the cluster-admin *rest.Config for the API server.
func (e *Env) Config() *rest.Config { return rest.CopyConfig(e.cfg) }

// KubeconfigPath returns the path of a kubeconfig file (cluster-admin) for kubectl
// or any other client; it is removed when the test ends.
func (e *Env) KubeconfigPath() string { return e.kubeconfig }

// WebhookInstallOptions returns the options envtest used to install webhooks,
// completed at Start: LocalServingHost, LocalServingPort and LocalServingCertDir
// (tls.crt, tls.key) are what a webhook server in the test must listen with.
func (e *Env) WebhookInstallOptions() *envtest.WebhookInstallOptions {
	return &e.env.WebhookInstallOptions
}

func resolveCRDDirs(root string, rootErr error, o options) ([]string, error) {
	if !o.crdDirsSet {
		if rootErr != nil {
			return nil, nil // no repository, so no default CRDs
		}
		dir := filepath.Join(root, DefaultCRDDirectory)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, nil // the chart has no CRDs yet
		}
		return []string{dir}, nil
	}
	dirs := make([]string, 0, len(o.crdDirs))
	for _, d := range o.crdDirs {
		if !filepath.IsAbs(d) {
			if rootErr != nil {
				return nil, rootErr
			}
			d = filepath.Join(root, d)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

func startTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") != "" {
		return 0 // envtest reads it
	}
	return 90 * time.Second
}
