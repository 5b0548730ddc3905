package framework

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// toolsBin is where hack/tools.mk puts the binaries, relative to the repository root.
const toolsBin = ".cache/tools/bin"

// repoRoot returns the nearest directory at or above the working directory that
// holds a go.mod file.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// assetsDir returns the directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS,
// or else the repository's .cache/tools/bin when `make tools` has filled it.
func assetsDir(root string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" && root != "" && hasAssets(filepath.Join(root, toolsBin)) == nil {
		return filepath.Join(root, toolsBin), nil
	}
	if dir == "" {
		return "", errors.New("KUBEBUILDER_ASSETS not set: run `make tools` (or `make envtest-assets`), " +
			"then run the tests through make or with KUBEBUILDER_ASSETS=$PWD/" + toolsBin)
	}
	if err := hasAssets(dir); err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s: %w: run `make tools` (or `make envtest-assets`)", dir, err)
	}
	return dir, nil
}

func hasAssets(dir string) error {
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("no executable %s in %s", name, dir)
		}
	}
	return nil
}
