package framework_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/projectwarden/warden/e2e/framework"
)

func TestStartWithWebhook(t *testing.T) {
	path, fail, sideEffects := "validate", admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	hook := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "framework-test"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "deny.framework-test.warden.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Path: &path}},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"framework-test": "deny"}},
			FailurePolicy:           &fail,
			SideEffects:             &sideEffects,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	env := framework.Start(t, framework.WithWebhookInstallOptions(envtest.WebhookInstallOptions{
		ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{hook},
	}))
	serveDenyingWebhook(t, env.WebhookInstallOptions())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	t.Run("kubectl_shows_the_webhook_denial", func(t *testing.T) {
		const manifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: denied
  namespace: default
  labels: {framework-test: deny}
`
		_, stderr, err := env.KubectlWithInput(ctx, manifest, "apply", "-f", "-")
		if err == nil {
			t.Fatal("kubectl apply succeeded, want the webhook to deny it")
		}
		if want := "denied by the framework test webhook"; !strings.Contains(stderr, want) {
			t.Fatalf("kubectl apply stderr = %q, want it to contain %q", stderr, want)
		}
	})
}

// serveDenyingWebhook serves, until the test ends, a validating webhook that
// denies every request it gets.
func serveDenyingWebhook(t *testing.T, o *envtest.WebhookInstallOptions) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: false,
			Result: &metav1.Status{Message: "denied by the framework test webhook"}}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(&review)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		done <- srv.ServeTLS(ln, filepath.Join(o.LocalServingCertDir, "tls.crt"), filepath.Join(o.LocalServingCertDir, "tls.key"))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	})
}
