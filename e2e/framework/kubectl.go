package framework

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Kubectl runs the real kubectl against the control plane, as cluster-admin,
// and returns what it printed. err is non-nil when kubectl could not run or
// exited non-zero; it then includes kubectl's stderr.
func (e *Env) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return e.KubectlWithInput(ctx, "", args...)
}

// KubectlWithInput is Kubectl with stdin, e.g. a manifest for `apply -f -`.
func (e *Env) KubectlWithInput(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	bin, err := exec.LookPath(e.kubectl)
	if err != nil {
		return "", "", fmt.Errorf("kubectl not found (install it or use WithKubectl): %w", err)
	}
	full := append([]string{"--kubeconfig=" + e.kubeconfig, "--cache-dir=" + e.kubeCache}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}
