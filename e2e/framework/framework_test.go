package framework_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/projectwarden/warden/e2e/framework"
)

func TestStart(t *testing.T) {
	env := framework.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	t.Run("kubectl_sees_the_api_server", func(t *testing.T) {
		out, _, err := env.Kubectl(ctx, "get", "namespaces", "-o", "name")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "namespace/default\n") {
			t.Fatalf("kubectl get namespaces: no default namespace in:\n%s", out)
		}
	})

	t.Run("the_chart_crds_are_installed_by_default", func(t *testing.T) {
		out, _, err := env.Kubectl(ctx, "get", "crd", "-o", "name",
			"httpproxies.projectcontour.io", "tlscertificatedelegations.projectcontour.io")
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out, "customresourcedefinition.apiextensions.k8s.io/"); n != 2 {
			t.Fatalf("kubectl get crd found %d of the 2 Contour CRDs:\n%s", n, out)
		}
	})

	t.Run("kubectl_apply_creates_a_configmap_the_client_reads", func(t *testing.T) {
		const manifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: framework-check
  namespace: default
data:
  greeting: hello
`
		out, _, err := env.KubectlWithInput(ctx, manifest, "apply", "-f", "-")
		if err != nil {
			t.Fatal(err)
		}
		if want := "configmap/framework-check created"; !strings.Contains(out, want) {
			t.Fatalf("kubectl apply printed %q, want %q", out, want)
		}
		var cm corev1.ConfigMap
		if err := env.Client().Get(ctx, types.NamespacedName{Namespace: "default", Name: "framework-check"}, &cm); err != nil {
			t.Fatal(err)
		}
		if got := cm.Data["greeting"]; got != "hello" {
			t.Fatalf("configmap data greeting = %q, want hello", got)
		}
	})
}
