package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/e2e/framework"
	xdsclient "github.com/projectwarden/warden/xds/client"
)

// TestXDS applies the multi-team scenario to a real API server and checks what an Envoy-like
// ADS client receives from Warden, in state-of-the-world and delta modes: a complete,
// consistent configuration with the delegated routes, and changes as they happen.
func TestXDS(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	w := framework.StartWarden(t, env, exampleConfig())
	kubectl := kubectlFor(t, env)
	c := env.Client()
	for _, f := range []string{"00-namespaces.yaml", "01-backends.yaml", "02-delegations.yaml", "03-teams.yaml", "04-roots.yaml"} {
		if _, errOut, err := kubectl("apply", "-f", example(f)); err != nil {
			t.Fatalf("kubectl apply -f %s: %v\n%s", f, err, errOut)
		}
	}
	withServingCertificate(t, c, "certs", "wildcard-example-com")
	withEndpoints(t, c, "team-a", "api", 8080, "10.0.0.1", "10.0.0.2")

	for _, mode := range []xdsclient.Mode{xdsclient.SotW, xdsclient.Delta} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ads, err := xdsclient.Dial(ctx, xdsclient.Options{Address: w.XDSAddress, NodeID: "envoy-" + mode.String(), Cluster: "e2e", Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = ads.Run(ctx) }()

			s := waitXDS(t, ads, "the multi-team configuration", func(s xdsclient.State) bool {
				return xdsclient.CheckComplete(s) == nil && s.HasRoute("https/shop.example.com", "/api/v1") && endpointCount(s, "team-a/api") == 2
			})
			https, ok := s.Listeners["ingress_https"].(*listenerv3.Listener)
			if !ok {
				t.Fatalf("no ingress_https listener: %v", keys(s.Listeners))
			}
			var snis []string
			for _, fc := range https.GetFilterChains() {
				snis = append(snis, fc.GetFilterChainMatch().GetServerNames()...)
			}
			if got := strings.Join(snis, ","); got != "shop.example.com,www.example.com" {
				t.Errorf("HTTPS filter chains serve %q, want shop.example.com,www.example.com", got)
			}
			if _, ok := s.Secrets["certs/wildcard-example-com"]; !ok {
				t.Errorf("the delegated certificate is not served over SDS: %v", keys(s.Secrets))
			}
			if !hasRedirect(s, "ingress_http", "shop.example.com") {
				t.Errorf("ingress_http does not redirect shop.example.com to HTTPS")
			}
			if n := endpointCount(s, "team-a/api"); n != 2 {
				t.Errorf("team-a/api has %d endpoints, want 2", n)
			}
			// Both protocol variants must deliver the same configuration.
			assertGolden(t, "xds/multi-team.yaml", renderState(t, s))

			// A change in the cluster reaches the client.
			start := time.Now()
			patch := []byte(`{"spec":{"routes":[{"conditions":[{"prefix":"/v2"}],"services":[{"name":"api","port":8080}]}]}}`)
			if err := c.Patch(t.Context(), &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "api"}}, client.RawPatch("application/merge-patch+json", patch)); err != nil {
				t.Fatal(err)
			}
			waitXDS(t, ads, "the changed route", func(s xdsclient.State) bool { return s.HasRoute("https/shop.example.com", "/api/v2") })
			t.Logf("%s: a route change reached the client in %s", mode, time.Since(start).Round(time.Millisecond))
			if err := c.Patch(t.Context(), &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "api"}},
				client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"routes":[{"conditions":[{"prefix":"/v1"}],"services":[{"name":"api","port":8080}]}]}}`))); err != nil {
				t.Fatal(err)
			}
			waitXDS(t, ads, "the route restored", func(s xdsclient.State) bool { return s.HasRoute("https/shop.example.com", "/api/v1") })
		})
	}
}

func waitXDS(t *testing.T, c *xdsclient.Client, what string, cond func(xdsclient.State) bool) xdsclient.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	s, err := c.WaitFor(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v; complete: %v; routes: %v", what, err, xdsclient.CheckComplete(s), keys(s.Routes))
	}
	return s
}

func hasRedirect(s xdsclient.State, rc, domain string) bool {
	cfg, ok := s.Routes[rc].(*routev3.RouteConfiguration)
	if !ok {
		return false
	}
	for _, vh := range cfg.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			if d == domain {
				for _, r := range vh.GetRoutes() {
					if r.GetRedirect().GetHttpsRedirect() {
						return true
					}
				}
			}
		}
	}
	return false
}

func endpointCount(s xdsclient.State, prefix string) int {
	n := 0
	for name, m := range s.Endpoints {
		if cla, ok := m.(*endpointv3.ClusterLoadAssignment); ok && strings.HasPrefix(name, prefix) {
			for _, le := range cla.GetEndpoints() {
				n += len(le.GetLbEndpoints())
			}
		}
	}
	return n
}

func keys[T any](m map[string]T) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// withServingCertificate replaces a Secret's data with a real certificate and key, so that
// the vhosts using it can be served over TLS.
func withServingCertificate(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	ca, err := framework.NewCA("e2e-certs")
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue()
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data = map[string][]byte{"tls.crt": crt, "tls.key": key}
	if err := c.Update(t.Context(), &s); err != nil {
		t.Fatal(err)
	}
}

// withEndpoints creates an EndpointSlice of ready endpoints for a Service port.
func withEndpoints(t *testing.T, c client.Client, ns, svc string, port int32, addrs ...string) {
	t.Helper()
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-e2e", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: &port}},
	}
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	if err := c.Create(t.Context(), es); err != nil {
		t.Fatal(fmt.Errorf("creating EndpointSlice: %w", err))
	}
}
