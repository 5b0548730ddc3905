package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun_once is `make run` without the wait for Ctrl-C: the real warden binary, a real
// control plane, the example applied with kubectl; it asserts on what the user would read.
func TestRun_once(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, ".cache", "tools", "bin")
	}
	bin := filepath.Join(t.TempDir(), "warden")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/warden")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building warden: %v\n%s", err, out)
	}
	port, xdsPort := freePort(t), freePort(t)

	var out bytes.Buffer
	err = run(t.Context(), options{
		warden: bin, config: filepath.Join(root, "examples/warden.yaml"), examples: filepath.Join(root, "examples/multi-team"),
		crds: filepath.Join(root, "charts/warden/crds"), assets: assets, workDir: t.TempDir(), port: port, xdsPort: xdsPort, once: true, out: &out,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"== warden is ready; its webhooks are registered",
		"httpproxy.projectcontour.io/shop created",
		"Warning: HTTPProxy team-a/api: this HTTPProxy is not part of a delegation chain from a root HTTPProxy [orphaned]",
		`denied the request: HTTPProxy team-a/takeover: root HTTPProxy cannot be defined in this namespace [root-namespace]`,
		`denied the request: HTTPProxy marketing/shop-copy: fqdn "shop.example.com" is used in multiple HTTPProxies`,
		"denied the request: HTTPProxy team-a/api: include creates an include cycle",
		"denied the request: HTTPProxy roots/portal: this root has 3 includes; at most 2 are allowed [policy max-includes/max-includes]",
		"export KUBECONFIG=",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

func TestPreflight_portInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bin := filepath.Join(t.TempDir(), "warden")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	assets := t.TempDir()
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(assets, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err = preflight(options{warden: bin, assets: assets, workDir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port, xdsPort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "is in use") || !strings.Contains(err.Error(), "WARDEN_PORT") {
		t.Errorf("preflight = %v, want a clear port-in-use error naming WARDEN_PORT", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
