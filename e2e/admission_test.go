package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/e2e/framework"
)

const webhookDenied = `admission webhook "delegation.validate.warden.dev" denied the request: `

func exampleConfig() *config.Config {
	c := config.Default()
	c.HTTPProxy.RootNamespaces = []string{"roots", "marketing"}
	c.HTTPProxy.DisablePermitInsecure = true
	return c
}

// kubectl runs the real kubectl and returns what it printed.
type kubectlFunc func(args ...string) (stdout, stderr string, err error)

func kubectlFor(t *testing.T, env *framework.Env) kubectlFunc {
	return func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		return env.Kubectl(ctx, args...)
	}
}

func example(name string) string  { return filepath.Join("..", "examples", "multi-team", name) }
func testdata(name string) string { return filepath.Join("testdata", "admission", name) }

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(got, w) {
			t.Errorf("%s contains %q:\n%s", what, w, got)
		}
	}
}

// TestAdmission applies the multi-team scenario with kubectl against a real API server with
// Warden's webhooks registered, and asserts on what kubectl prints.
func TestAdmission(t *testing.T) {
	env := framework.Start(t, framework.WithScheme(contourv1.AddToScheme, policyv1alpha1.AddToScheme))
	w := framework.StartWarden(t, env, exampleConfig())
	kubectl := kubectlFor(t, env)

	t.Run("setup_objects_are_accepted", func(t *testing.T) {
		for _, f := range []string{"00-namespaces.yaml", "01-backends.yaml", "02-delegations.yaml"} {
			out, errOut, err := kubectl("apply", "-f", example(f))
			if err != nil || errOut != "" {
				t.Fatalf("kubectl apply -f %s: %v\n%s%s", f, err, out, errOut)
			}
		}
	})

	t.Run("children_before_their_root_warn_orphaned", func(t *testing.T) {
		out, errOut, err := kubectl("apply", "-f", example("03-teams.yaml"))
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		mustContain(t, "stdout", out, "httpproxy.projectcontour.io/api created", "httpproxy.projectcontour.io/web created")
		mustContain(t, "stderr", errOut,
			"Warning: HTTPProxy team-a/api: this HTTPProxy is not part of a delegation chain from a root HTTPProxy [orphaned]; fix: have a root HTTPProxy include team-a/api; until then it serves no traffic",
			"Warning: HTTPProxy team-b/web: this HTTPProxy is not part of a delegation chain from a root HTTPProxy [orphaned]")
	})

	t.Run("roots_are_accepted_without_warnings", func(t *testing.T) {
		out, errOut, err := kubectl("apply", "-f", example("04-roots.yaml"))
		if err != nil || errOut != "" {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		mustContain(t, "stdout", out, "httpproxy.projectcontour.io/shop created", "httpproxy.projectcontour.io/landing created")
	})

	denials := []string{
		webhookDenied + "HTTPProxy team-a/takeover: root HTTPProxy cannot be defined in this namespace [root-namespace]; fix: root HTTPProxies may only live in namespaces roots, marketing",
		webhookDenied + `HTTPProxy marketing/shop-copy: fqdn "shop.example.com" is used in multiple HTTPProxies: marketing/shop-copy, roots/shop [duplicate-fqdn]; fix: roots/shop claimed "shop.example.com" first`,
		webhookDenied + `HTTPProxy marketing/promo: Spec.VirtualHost.TLS Secret "certs/internal-ca" certificate delegation not permitted [tls-delegation]`,
		webhookDenied + "HTTPProxy team-b/plain: spec.routes[0].permitInsecure is true, but permitInsecure is disabled in this cluster [permit-insecure]",
	}
	t.Run("server_dry_run_denies_the_same_and_stores_nothing", func(t *testing.T) {
		_, errOut, err := kubectl("apply", "--dry-run=server", "-f", testdata("mistakes.yaml"))
		if err == nil {
			t.Fatal("kubectl apply --dry-run=server succeeded; want denials")
		}
		mustContain(t, "stderr", errOut, denials...)
		out, _, _ := kubectl("get", "httpproxies", "-A", "-o", "name")
		mustNotContain(t, "stored proxies", out, "takeover", "shop-copy", "promo", "plain")
	})

	t.Run("violations_are_denied_with_rule_cause_and_fix", func(t *testing.T) {
		_, errOut, err := kubectl("apply", "-f", testdata("mistakes.yaml"))
		if err == nil {
			t.Fatal("kubectl apply succeeded; want denials")
		}
		mustContain(t, "stderr", errOut, denials...)
		out, _, _ := kubectl("get", "httpproxies", "-A", "-o", "name")
		mustNotContain(t, "stored proxies", out, "takeover", "shop-copy", "promo", "plain")
	})

	t.Run("include_cycle_is_denied", func(t *testing.T) {
		if _, errOut, err := kubectl("apply", "-f", testdata("web-includes-api.yaml")); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		_, errOut, err := kubectl("apply", "-f", testdata("cycle.yaml"))
		if err == nil {
			t.Fatal("cycle admitted")
		}
		mustContain(t, "stderr", errOut, webhookDenied+"HTTPProxy team-a/api: include creates an include cycle: team-a/api -> team-b/web -> team-a/api [include-cycle]; fix: includes must form a tree; remove the include of team-a/api from team-b/web")
	})

	t.Run("delegation_policies_that_do_not_compile_or_pass_their_tests_are_rejected", func(t *testing.T) {
		_, errOut, err := kubectl("apply", "-f", testdata("policy-syntax-error.yaml"))
		if err == nil {
			t.Fatal("broken policy admitted")
		}
		mustContain(t, "stderr", errOut, webhookDenied+"DelegationPolicy broken-syntax: spec.rego does not compile: ", "rego_parse_error", "[policy-compiles]")
		_, errOut, err = kubectl("apply", "-f", testdata("policy-failing-tests.yaml"))
		if err == nil {
			t.Fatal("policy with failing tests admitted")
		}
		mustContain(t, "stderr", errOut, webhookDenied+"DelegationPolicy failing-tests: spec.tests failed: 1 of 1 failed: test_nothing_denied (line 5) [policy-tests-pass]")
	})

	t.Run("admin_policy_takes_effect_within_2s_and_reverts_on_delete", func(t *testing.T) {
		if _, errOut, err := kubectl("apply", "--dry-run=server", "-f", testdata("portal.yaml")); err != nil {
			t.Fatalf("portal denied before the policy exists: %s", errOut)
		}
		if out, errOut, err := kubectl("apply", "-f", testdata("policy-max-includes.yaml")); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		applied := time.Now()
		errOut := eventually(t, 2*time.Second, func() (string, bool) {
			_, e, err := kubectl("apply", "--dry-run=server", "-f", testdata("portal.yaml"))
			return e, err != nil
		})
		t.Logf("policy effective after %s", time.Since(applied).Round(time.Millisecond))
		mustContain(t, "stderr", errOut, webhookDenied+"HTTPProxy roots/portal: this root has 3 includes; at most 2 are allowed [policy max-includes/max-includes]; fix: split the vhost, or ask the platform team to raise the limit")

		if _, errOut, err := kubectl("delete", "delegationpolicy", "max-includes"); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		deleted := time.Now()
		eventually(t, 2*time.Second, func() (string, bool) {
			_, e, err := kubectl("apply", "--dry-run=server", "-f", testdata("portal.yaml"))
			return e, err == nil
		})
		t.Logf("policy removal effective after %s", time.Since(deleted).Round(time.Millisecond))
	})

	t.Run("mutating_defaults_are_stored_and_reapplying_is_a_no_op", func(t *testing.T) {
		out, errOut, err := kubectl("apply", "-f", testdata("defaults.yaml"))
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		got, _, err := kubectl("get", "httpproxy", "-n", "marketing", "events", "-o", "jsonpath={.spec.virtualhost.fqdn} {.spec.includes[0].namespace}")
		if err != nil || got != "events.example.com marketing" {
			t.Errorf("stored fqdn and include namespace = %q (%v), want %q", got, err, "events.example.com marketing")
		}
		// kubectl sends the user's fields again (its 3-way merge replaces the includes
		// list); the mutating webhook restores the defaults, so the stored spec and its
		// generation are unchanged. (resourceVersion moves on any patch of an HTTPProxy,
		// mutated or not, because Contour's CRD defaults status on read.)
		version := `jsonpath={.metadata.generation} {.spec}`
		before, _, _ := kubectl("get", "httpproxy", "-n", "marketing", "events", "-o", version)
		out, errOut, err = kubectl("apply", "-f", testdata("defaults.yaml"))
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		mustContain(t, "second apply", out, "httpproxy.projectcontour.io/events-app unchanged")
		if after, _, _ := kubectl("get", "httpproxy", "-n", "marketing", "events", "-o", version); after != before {
			t.Errorf("second apply changed the stored object: generation and spec %q -> %q", before, after)
		}
	})

	t.Run("metrics_record_admission_latency", func(t *testing.T) {
		code, body, err := w.Get(t.Context(), "/metrics")
		if err != nil || code != 200 {
			t.Fatalf("/metrics: %d %v", code, err)
		}
		mustContain(t, "/metrics", body,
			`warden_admission_duration_seconds_count{decision="denied",kind="HTTPProxy",operation="CREATE",webhook="validate"}`,
			`warden_admission_duration_seconds_count{decision="patched",kind="HTTPProxy",operation="CREATE",webhook="mutate"}`,
			"warden_policy_evaluation_duration_seconds_bucket", "warden_policy_set_generation",
			`warden_httpproxies{status="valid"}`, "warden_model_rebuild_duration_seconds_bucket", "warden_xds_snapshot_build_duration_seconds_bucket",
			"warden_status_writes_total", "warden_xds_streams")
	})
}

// eventually polls f until it reports done, failing the test after limit. It returns f's
// last output.
func eventually(t *testing.T, limit time.Duration, f func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, done := f()
		if done {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done within %s; last output:\n%s", limit, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
