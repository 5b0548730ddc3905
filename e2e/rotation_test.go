package e2e

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/e2e/framework"
)

// TestWebhookCertificateRotation replaces Warden's serving certificate files with one from a
// new CA (the webhook caBundle carries both, as during a cert-manager CA rotation) while
// admission requests flow: the new certificate is served without a restart and no request
// fails.
func TestWebhookCertificateRotation(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	w := framework.StartWarden(t, env, config.Default())
	c := env.Client()
	ctx := t.Context()

	next, err := framework.NewCA("warden-rotated-ca")
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(append([]byte{}, w.CA.PEM...), next.PEM...)
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: "warden"}, &vwc); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "warden"}, &mwc); err != nil {
		t.Fatal(err)
	}
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.CABundle = bundle
	}
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if err := c.Update(ctx, &vwc); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, &mwc); err != nil {
		t.Fatal(err)
	}

	// Requests in a loop: each one is answered by Warden (an orphan warning, allowed).
	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	reqCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; reqCtx.Err() == nil; i++ {
			p := &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "probe"},
				Spec: contourv1.HTTPProxySpec{Routes: []contourv1.Route{{Services: []contourv1.Service{{Name: "s", Port: 80}}}}}}
			err := c.Create(reqCtx, p, client.DryRunAll)
			switch {
			case reqCtx.Err() != nil:
			case err != nil:
				failed.Add(1)
				firstFailure.CompareAndSwap(nil, err.Error())
			default:
				ok.Add(1)
			}
		}
	}()
	time.Sleep(time.Second) // requests under the old certificate, with the widened bundle

	if err := next.WriteServing(w.CertDir); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	deadline := rotated.Add(20 * time.Second)
	for {
		issuer, err := w.PeerIssuer(ctx)
		if err == nil && issuer == "warden-rotated-ca" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving the old certificate 20s after the files were replaced (issuer %q, %v)", issuer, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("new certificate served %s after the files were replaced", time.Since(rotated).Round(time.Millisecond))
	time.Sleep(time.Second) // requests under the new certificate
	stop()
	wg.Wait()

	t.Logf("%d admission requests answered across the rotation, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d admission requests failed around the rotation; first: %v", failed.Load(), ok.Load()+failed.Load(), firstFailure.Load())
	}
	if ok.Load() < 10 {
		t.Errorf("only %d requests succeeded; the test did not exercise the rotation", ok.Load())
	}
	if s := firstFailure.Load(); s != nil && strings.Contains(s.(string), "x509") {
		t.Errorf("a request failed TLS verification: %s", s)
	}
}
