package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/e2e/framework"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// statusOf reads an HTTPProxy's currentStatus and the type/reason of its errors.
func statusOf(t *testing.T, c client.Client, ns, name string) (string, []string) {
	t.Helper()
	var p contourv1.HTTPProxy
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		return "", []string{err.Error()}
	}
	var errs []string
	for _, cond := range p.Status.Conditions {
		for _, e := range cond.Errors {
			errs = append(errs, e.Type+"/"+e.Reason+": "+e.Message)
		}
	}
	return p.Status.CurrentStatus, errs
}

// waitStatus waits until the proxy's currentStatus is one of want and returns its errors.
func waitStatus(t *testing.T, c client.Client, ns, name string, want ...string) []string {
	t.Helper()
	var got string
	var errs []string
	eventually(t, 10*time.Second, func() (string, bool) {
		got, errs = statusOf(t, c, ns, name)
		return fmt.Sprintf("%s/%s is %q %v, want %q", ns, name, got, errs, want), slices.Contains(want, got)
	})
	return errs
}

// TestStatus runs the multi-team scenario and checks the status Warden writes, including
// for objects created while its webhooks were not registered.
func TestStatus(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	w := framework.StartWarden(t, env, exampleConfig())
	kubectl := kubectlFor(t, env)
	c := env.Client()
	for _, f := range []string{"00-namespaces.yaml", "01-backends.yaml", "02-delegations.yaml", "03-teams.yaml", "04-roots.yaml"} {
		if _, errOut, err := kubectl("apply", "-f", example(f)); err != nil {
			t.Fatalf("kubectl apply -f %s: %v\n%s", f, err, errOut)
		}
	}

	t.Run("multi_team_scenario_reaches_expected_statuses", func(t *testing.T) {
		for _, k := range []string{"roots/shop", "marketing/landing", "team-a/api", "team-b/web"} {
			ns, name, _ := strings.Cut(k, "/")
			waitStatus(t, c, ns, name, "valid")
		}
	})

	t.Run("objects_that_bypassed_admission_are_judged_as_admission_would", func(t *testing.T) {
		httpc := webhookClientFor(w)
		bypass := []*contourv1.HTTPProxy{
			fx.Proxy("marketing", "shop-copy").FQDN("shop.example.com").Route("landing", 80).Obj(),
			fx.Proxy("team-a", "takeover").FQDN("takeover.example.com").Route("api", 8080).Obj(),
			fx.Proxy("team-b", "loop").Include("", "loop").Obj(),
			fx.Proxy("marketing", "promo").FQDN("promo.example.com").TLS("certs/internal-ca").Route("landing", 80).Obj(),
			fx.Proxy("team-b", "fine").Route("web", 80).Obj(),
		}
		answers := map[string]*admissionv1.AdmissionResponse{}
		for _, p := range bypass {
			answers[p.Namespace+"/"+p.Name] = review(t, httpc, w.URL, p)
		}
		deregister(t, c)
		// creationTimestamp has one-second resolution and same-second fqdn claims are ordered
		// by namespace/name (policy.olderThan): let the bypassing duplicate be younger than
		// roots/shop by the clock, as it is in every real scenario this test stands for.
		time.Sleep(time.Until(shopCreated(t, c).Add(1100 * time.Millisecond)))
		for _, p := range bypass {
			p.ResourceVersion = ""
			if err := c.Create(t.Context(), p); err != nil {
				t.Fatalf("creating %s/%s with the webhooks unregistered: %v", p.Namespace, p.Name, err)
			}
		}
		for k, ans := range answers {
			ns, name, _ := strings.Cut(k, "/")
			if !ans.Allowed {
				// Not served, with the denial's causes in status. A denied proxy that no
				// root reaches is "orphaned" (Contour's precedence), its errors listed.
				errs := waitStatus(t, c, ns, name, "invalid", "orphaned")
				for _, line := range strings.Split(ans.Result.Message, "\n") {
					cause := line[strings.Index(line, ": ")+2 : strings.LastIndex(line, " [")]
					if !strings.Contains(strings.Join(errs, "\n"), cause) {
						t.Errorf("%s: admission said %q, status errors are %v", k, cause, errs)
					}
				}
				continue
			}
			want := "valid"
			if strings.Contains(strings.Join(ans.Warnings, "\n"), "[orphaned]") {
				want = "orphaned"
			}
			waitStatus(t, c, ns, name, want)
		}
		st, errs := statusOf(t, c, "roots", "shop")
		if st != "valid" {
			t.Errorf("roots/shop is %s %v after a later duplicate bypassed admission; the older root must keep its fqdn", st, errs)
		}
	})

	t.Run("deleting_a_delegation_invalidates_the_root_that_uses_it", func(t *testing.T) {
		if _, errOut, err := kubectl("delete", "tlscertificatedelegation", "-n", "certs", "wildcard"); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		errs := waitStatus(t, c, "roots", "shop", "invalid")
		if !strings.Contains(strings.Join(errs, "\n"), "TLSError/DelegationNotPermitted") {
			t.Errorf("roots/shop errors %v, want TLSError/DelegationNotPermitted", errs)
		}
		waitStatus(t, c, "team-a", "api", "orphaned")
		if _, errOut, err := kubectl("apply", "-f", example("02-delegations.yaml")); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		waitStatus(t, c, "roots", "shop", "valid")
		waitStatus(t, c, "team-a", "api", "valid")
	})

	t.Run("a_delegation_policy_change_re_judges_existing_objects", func(t *testing.T) {
		pol := fx.Policy("no-shop", `package noshop

deny contains "the shop is closed" if input.object.spec.virtualhost.fqdn == "shop.example.com"
`, "", policyv1alpha1.EnforcementDeny)
		if err := c.Create(t.Context(), pol); err != nil {
			t.Fatal(err)
		}
		errs := waitStatus(t, c, "roots", "shop", "invalid")
		if !strings.Contains(strings.Join(errs, "\n"), "DelegationPolicy no-shop: the shop is closed") {
			t.Errorf("roots/shop errors %v, want the policy's message", errs)
		}
		if err := c.Delete(t.Context(), pol); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c, "roots", "shop", "valid")
	})
}

func webhookClientFor(w *framework.Warden) *http.Client { return webhookClient(w) }

// review asks Warden's validating webhook directly, as the API server would.
func review(t *testing.T, httpc *http.Client, url string, p *contourv1.HTTPProxy) *admissionv1.AdmissionResponse {
	t.Helper()
	body := reviewBodyT(t, p)
	resp, err := httpc.Post(url+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("webhook answer: %v", err)
	}
	return out.Response
}

// deregister removes Warden's webhook configurations, as if the webhook were not installed.
func deregister(t *testing.T, c client.Client) {
	t.Helper()
	for _, o := range []client.Object{
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "warden"}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "warden"}},
	} {
		if err := c.Delete(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	// The API server drops the configurations asynchronously: wait until a create that
	// Warden would deny is stored (then remove it).
	probe := &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bypass-probe"},
		Spec: contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "bypass-probe"}}}}
	eventually(t, 10*time.Second, func() (string, bool) {
		err := c.Create(t.Context(), probe.DeepCopy(), client.DryRunAll)
		return fmt.Sprint(err), err == nil
	})
}

// shopCreated returns roots/shop's creation time.
func shopCreated(t *testing.T, c client.Client) time.Time {
	t.Helper()
	var p contourv1.HTTPProxy
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "roots", Name: "shop"}, &p); err != nil {
		t.Fatal(err)
	}
	return p.CreationTimestamp.Time
}
