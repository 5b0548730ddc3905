// Command localrun is `make run`: a local control plane (kube-apiserver and etcd built by
// `make envtest-assets`), Warden's CRDs, `warden serve` with its webhooks registered, and
// the bundled multi-team example applied with kubectl. It prints what kubectl said and
// keeps running until Ctrl-C, so you can try your own `kubectl apply`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/e2e/framework"
)

type options struct {
	warden, config, examples, crds, assets, workDir string
	port, xdsPort                                   int
	once                                            bool
	out                                             io.Writer // what the user sees; default stdout
}

func main() {
	var o options
	flag.StringVar(&o.warden, "warden", "bin/warden", "the warden binary to run")
	flag.StringVar(&o.config, "config", "examples/warden.yaml", "warden.yaml for the run")
	flag.StringVar(&o.examples, "examples", "examples/multi-team", "directory of manifests applied in name order")
	flag.StringVar(&o.crds, "crds", "charts/warden/crds", "CRD directory")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory with kube-apiserver and etcd")
	flag.StringVar(&o.workDir, "work-dir", ".cache/run", "where the kubeconfig and certificates are written")
	flag.IntVar(&o.port, "port", 9443, "port for Warden's webhook server")
	flag.IntVar(&o.xdsPort, "xds-port", 8001, "port for Warden's xDS server (plaintext, local only)")
	flag.BoolVar(&o.once, "once", false, "stop after applying the example (for tests)")
	flag.Parse()
	o.out = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := preflight(o); err != nil {
		return err
	}
	step(o.out, "starting kube-apiserver and etcd from %s", o.assets)
	s := scheme.Scheme
	for _, add := range []func(*runtime.Scheme) error{contourv1.AddToScheme, policyv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return err
		}
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{o.crds}, ErrorIfCRDPathMissing: true, BinaryAssetsDirectory: o.assets, Scheme: s}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		step(o.out, "stopping the control plane")
		_ = env.Stop()
	}()
	kubeconfig, err := writeKubeconfig(env, o.workDir)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return err
	}
	certDir := filepath.Join(o.workDir, "certs")
	ca, err := newServingCerts(certDir)
	if err != nil {
		return err
	}
	step(o.out, "starting %s serve on 127.0.0.1:%d", o.warden, o.port)
	w := exec.CommandContext(ctx, o.warden, "serve", "--kubeconfig", kubeconfig, "--config", o.config, "--dev-logs",
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(o.port),
		"--xds-address", fmt.Sprintf("127.0.0.1:%d", o.xdsPort), "--xds-insecure",
		"--tls-cert-file", filepath.Join(certDir, "tls.crt"), "--tls-private-key-file", filepath.Join(certDir, "tls.key"))
	logFile, err := os.Create(filepath.Join(o.workDir, "warden.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	w.Stdout, w.Stderr = logFile, logFile
	w.Cancel = func() error { return w.Process.Signal(syscall.SIGTERM) }
	w.WaitDelay = 20 * time.Second
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting warden: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.Wait() }()
	defer func() {
		step(o.out, "stopping warden")
		_ = w.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	go func() {
		select {
		case err := <-exited:
			exited <- err // for the deferred stop
			stopWaiting(fmt.Errorf("warden serve exited (%v); see %s", err, logFile.Name()))
		case <-waitCtx.Done():
		}
	}()
	url := fmt.Sprintf("https://127.0.0.1:%d", o.port)
	if err := framework.RegisterWebhooks(ctx, c, url, ca.PEM); err != nil {
		return err
	}
	if err := framework.WaitEffective(waitCtx, c, func(ctx context.Context) (int, string, error) {
		return framework.HTTPSGet(ctx, ca.PEM, url+"/readyz")
	}); err != nil {
		if cause := context.Cause(waitCtx); cause != nil {
			return cause
		}
		return fmt.Errorf("%w (warden's log: %s)", err, logFile.Name())
	}
	stopWaiting(nil)
	step(o.out, "warden is ready; its webhooks are registered; log: %s", logFile.Name())
	if err := applyExamples(ctx, o.out, kubeconfig, o.examples); err != nil {
		return err
	}
	summary(o.out, kubeconfig, logFile.Name(), o.examples, fmt.Sprintf("127.0.0.1:%d", o.xdsPort))
	if o.once {
		return nil
	}
	<-ctx.Done()
	return nil
}

// writeKubeconfig writes the control plane's admin kubeconfig for kubectl.
func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, env.KubeConfig, 0o600)
}

// newServingCerts issues Warden's serving certificate into dir from a fresh local CA.
func newServingCerts(dir string) (*framework.CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := framework.NewCA("warden-local-ca")
	if err != nil {
		return nil, err
	}
	return ca, ca.WriteServing(dir)
}

func preflight(o options) error {
	if _, err := exec.LookPath("kubectl"); err != nil {
		return errors.New("kubectl is not on PATH; install it, then rerun make run")
	}
	if _, err := os.Stat(o.warden); err != nil {
		return fmt.Errorf("%s not found: run make build", o.warden)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(o.assets, b)); err != nil {
			return fmt.Errorf("%s not found in %q: run make envtest-assets", b, o.assets)
		}
	}
	for _, p := range []struct {
		port int
		env  string
	}{{o.port, "WARDEN_PORT"}, {o.xdsPort, "WARDEN_XDS_PORT"}} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
		if err != nil {
			return fmt.Errorf("port %d is in use (%v); free it or run make run %s=<port>", p.port, err, p.env)
		}
		_ = l.Close()
	}
	return os.MkdirAll(o.workDir, 0o755)
}

func applyExamples(ctx context.Context, out io.Writer, kubeconfig, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(out, "\n$ kubectl apply -f %s\n", f)
		cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "apply", "-f", f)
		cmd.Stdout, cmd.Stderr = out, out
		_ = cmd.Run() // denials are the point of the example; kubectl's exit status is shown by its output
	}
	return nil
}

func summary(out io.Writer, kubeconfig, log, examples, xdsAddr string) {
	fmt.Fprintf(out, `
== Warden is running against a local API server.

  export KUBECONFIG=%s
  kubectl get httpproxies -A              # the status Warden wrote
  kubectl apply -f your-proxy.yaml        # Warden answers at admission
  kubectl apply --dry-run=server -f ...   # the same answer, nothing stored
  bin/warden xds dump --address %s --insecure   # what Envoy would receive

The example is in %s; Warden's log is %s.
Press Ctrl-C to stop everything.
`, kubeconfig, xdsAddr, examples, log)
}

func step(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "== "+format+"\n", args...)
}
