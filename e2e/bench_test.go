package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/e2e/framework"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// The scale scenario: 10,000 HTTPProxies in 200 namespaces. 2,000 roots in 20 root
// namespaces, each with a TLS certificate delegated from "certs" and 4 includes of children
// spread over 180 team namespaces; a Service per team namespace.
const (
	scaleRoots    = 2000
	scaleIncludes = 4
	scaleRootNS   = 20
	scaleTeamNS   = 180
	samples       = 400
)

func scaleObjects() (cfg *config.Config, setup, proxies []client.Object) {
	cfg = config.Default()
	for i := 0; i < scaleRootNS; i++ {
		ns := fmt.Sprintf("roots-%02d", i)
		cfg.HTTPProxy.RootNamespaces = append(cfg.HTTPProxy.RootNamespaces, ns)
		setup = append(setup, fx.Namespace(ns))
	}
	setup = append(setup, fx.Namespace("certs"), fx.Secret("certs", "wildcard"),
		fx.Delegation("certs", "wildcard", "wildcard", cfg.HTTPProxy.RootNamespaces...))
	for i := 0; i < scaleTeamNS; i++ {
		ns := fmt.Sprintf("team-%03d", i)
		setup = append(setup, fx.Namespace(ns), fx.Service(ns, "web", 80))
	}
	var roots []client.Object
	for r := 0; r < scaleRoots; r++ {
		root := fx.Proxy(cfg.HTTPProxy.RootNamespaces[r%scaleRootNS], fmt.Sprintf("root-%04d", r)).
			FQDN(fmt.Sprintf("app-%04d.example.com", r)).TLS("certs/wildcard")
		for c := 0; c < scaleIncludes; c++ {
			i := r*scaleIncludes + c
			ns, name := fmt.Sprintf("team-%03d", i%scaleTeamNS), fmt.Sprintf("child-%05d", i)
			proxies = append(proxies, fx.Proxy(ns, name).Route("web", 80, fx.Prefix("/v1")).Obj())
			root.Include(ns, name, fx.Prefix(fmt.Sprintf("/c%d", c)))
		}
		roots = append(roots, root.Obj())
	}
	return cfg, setup, append(proxies, roots...)
}

// createAll creates objects with parallel workers, in order per worker, through the API
// server (and so through Warden's webhooks).
func createAll(ctx context.Context, c client.Client, objs []client.Object, workers int) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan client.Object)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				if err := c.Create(ctx, o); err != nil {
					errs <- fmt.Errorf("creating %s/%s: %w", o.GetNamespace(), o.GetName(), err)
					return
				}
			}
		}()
	}
	for _, o := range objs {
		select {
		case next <- o:
		case err := <-errs:
			close(next)
			return err
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	// Nearest rank, the conservative reading: the p99 of 20 samples is the largest.
	i := min(max(int(math.Ceil(p*float64(len(s))))-1, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// BenchmarkAdmission measures admission latency with 10,000 HTTPProxies stored: creates
// through the real API server (what kubectl waits for), and Warden's own handling of the
// same AdmissionReviews posted straight to its webhook. Run with -benchtime=1x (make bench).
func BenchmarkAdmission(b *testing.B) {
	env := framework.Start(b, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	cfg, setup, proxies := scaleObjects()
	w := framework.StartWarden(b, env, cfg)
	rest := env.Config()
	rest.QPS, rest.Burst = 2000, 4000 // the benchmark client, not Warden: fill the API server fast
	c, err := client.New(rest, client.Options{Scheme: env.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := createAll(ctx, c, setup, 1); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := createAll(ctx, c, proxies, 16); err != nil {
		b.Fatal(err)
	}
	populate := time.Since(start)
	b.Logf("created %d HTTPProxies through the webhooks in %s (%.0f/s)", len(proxies), populate.Round(time.Millisecond), float64(len(proxies))/populate.Seconds())

	var api, hook []time.Duration
	httpc := webhookClient(w)
	for b.Loop() {
		api, hook = api[:0], hook[:0]
		for i := range samples {
			p := fx.Proxy(fmt.Sprintf("team-%03d", i%scaleTeamNS), fmt.Sprintf("bench-%d-%d", b.N, i)).Route("web", 80, fx.Prefix("/b")).Obj()
			review := reviewBody(b, p)
			t0 := time.Now()
			if err := c.Create(ctx, p); err != nil {
				b.Fatal(err)
			}
			api = append(api, time.Since(t0))
			t0 = time.Now()
			resp, err := httpc.Post(w.URL+"/validate", "application/json", bytes.NewReader(review))
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("webhook: %v %v", err, resp)
			}
			resp.Body.Close()
			hook = append(hook, time.Since(t0))
		}
	}
	b.ReportMetric(percentile(api, 0.5), "api-p50-ms")
	b.ReportMetric(percentile(api, 0.99), "api-p99-ms")
	b.ReportMetric(percentile(hook, 0.5), "webhook-p50-ms")
	b.ReportMetric(percentile(hook, 0.99), "webhook-p99-ms")
	b.ReportMetric(float64(len(proxies))/populate.Seconds(), "populate-proxies/s")
}

func webhookClient(w *framework.Warden) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CA.PEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 4}}
}

func reviewBody(b *testing.B, p *contourv1.HTTPProxy) []byte { return reviewBodyT(b, p) }

// reviewBodyT is a CREATE AdmissionReview for p.
func reviewBodyT(b testing.TB, p *contourv1.HTTPProxy) []byte {
	raw, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID(p.Name), Operation: admissionv1.Create,
			Kind:      metav1.GroupVersionKind{Group: "projectcontour.io", Version: "v1", Kind: "HTTPProxy"},
			Namespace: p.Namespace, Name: p.Name, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}
