package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
	"github.com/projectwarden/warden/webhook"
)

var proxyKind = metav1.GroupVersionKind{Group: "projectcontour.io", Version: "v1", Kind: "HTTPProxy"}

func newDecider(t *testing.T, s policy.Settings, objs ...client.Object) *policy.Decider {
	t.Helper()
	d, err := policy.NewDecider(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := d.Apply(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func reviewFor(t *testing.T, op admissionv1.Operation, kind metav1.GroupVersionKind, obj runtime.Object, dryRun bool) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	m := obj.(metav1.Object)
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID("uid-1"), Kind: kind, Operation: op,
			Namespace: m.GetNamespace(), Name: m.GetName(), Object: runtime.RawExtension{Raw: raw}, DryRun: &dryRun},
	}
	if op == admissionv1.Delete {
		r.Request.Object, r.Request.OldObject = runtime.RawExtension{}, runtime.RawExtension{Raw: raw}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, h http.Handler, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/validate", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, rec.Body)
	}
	if out.Response == nil || out.Response.UID != "uid-1" {
		t.Fatalf("response does not answer uid-1: %s", rec.Body)
	}
	return rec, out.Response
}

func TestValidator(t *testing.T) {
	settings := policy.Settings{RootNamespaces: []string{"roots"}}
	stored := []client.Object{fx.Service("roots", "web", 80), fx.Proxy("roots", "shop").Created(1).FQDN("shop.example.com").Route("web", 80).Obj()}
	cases := map[string]struct {
		body         func(t *testing.T) []byte
		wantAllowed  bool
		wantCode     int32
		wantMessage  string
		wantWarnings []string
	}{
		"root_outside_root_namespaces_denied_with_readable_message": {
			body: func(t *testing.T) []byte {
				return reviewFor(t, admissionv1.Create, proxyKind, fx.Proxy("team-a", "app").FQDN("app.example.com").Route("web", 80).Obj(), false)
			},
			wantCode:     403,
			wantMessage:  "HTTPProxy team-a/app: root HTTPProxy cannot be defined in this namespace [root-namespace]; fix: root HTTPProxies may only live in namespaces roots; remove spec.virtualhost and ask a root there to include team-a/app",
			wantWarnings: []string{`HTTPProxy team-a/app: Spec.Routes unresolved service reference: service "team-a/web" not found [service-not-found]; fix: create Service web in namespace team-a; until then this route answers 503`},
		},
		"several_violations_one_line_each": {
			body: func(t *testing.T) []byte {
				return reviewFor(t, admissionv1.Create, proxyKind, fx.Proxy("team-a", "app").FQDN("shop.example.com").Include("", "app").Obj(), false)
			},
			wantCode: 403,
			wantMessage: strings.Join([]string{
				"HTTPProxy team-a/app: include creates an include cycle: team-a/app -> team-a/app [include-cycle]; fix: includes must form a tree; remove the include of team-a/app from team-a/app",
				"HTTPProxy team-a/app: root httpproxy cannot include another root httpproxy (team-a/app) [root-includes-root]; fix: team-a/app has a virtualhost of its own; include a proxy without spec.virtualhost instead",
				"HTTPProxy team-a/app: root HTTPProxy cannot be defined in this namespace [root-namespace]; fix: root HTTPProxies may only live in namespaces roots; remove spec.virtualhost and ask a root there to include team-a/app",
			}, "\n"),
		},
		"dry_run_answered_the_same": {
			body: func(t *testing.T) []byte {
				return reviewFor(t, admissionv1.Create, proxyKind, fx.Proxy("team-a", "app").FQDN("app.example.com").Route("web", 80).Obj(), true)
			},
			wantCode:     403,
			wantMessage:  "HTTPProxy team-a/app: root HTTPProxy cannot be defined in this namespace [root-namespace]; fix: root HTTPProxies may only live in namespaces roots; remove spec.virtualhost and ask a root there to include team-a/app",
			wantWarnings: []string{`HTTPProxy team-a/app: Spec.Routes unresolved service reference: service "team-a/web" not found [service-not-found]; fix: create Service web in namespace team-a; until then this route answers 503`},
		},
		"orphan_allowed_with_warning": {
			body: func(t *testing.T) []byte {
				return reviewFor(t, admissionv1.Create, proxyKind, fx.Proxy("roots", "child").Route("web", 80).Obj(), false)
			},
			wantAllowed:  true,
			wantWarnings: []string{"HTTPProxy roots/child: this HTTPProxy is not part of a delegation chain from a root HTTPProxy [orphaned]; fix: have a root HTTPProxy include roots/child; until then it serves no traffic"},
		},
		"delete_of_unused_proxy_allowed": {
			body: func(t *testing.T) []byte {
				return reviewFor(t, admissionv1.Delete, proxyKind, fx.Proxy("roots", "shop").Created(1).FQDN("shop.example.com").Route("web", 80).Obj(), false)
			},
			wantAllowed: true,
		},
		"unknown_kind_is_a_clear_error": {
			body: func(t *testing.T) []byte {
				return reviewFor(t, admissionv1.Create, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, fx.Namespace("x"), false)
			},
			wantCode:    400,
			wantMessage: "warden: kind apps/v1, Kind=Deployment is not handled by Warden's webhooks; the webhook configuration should not send it",
		},
		"object_that_does_not_decode_is_a_clear_error": {
			body: func(t *testing.T) []byte {
				b := reviewFor(t, admissionv1.Create, proxyKind, fx.Proxy("roots", "bad").Obj(), false)
				return bytes.Replace(b, []byte(`"spec":{}`), []byte(`"spec":{"routes":"nope"}`), 1)
			},
			wantCode:    400,
			wantMessage: "warden: HTTPProxy roots/bad does not decode: json: cannot unmarshal string into Go struct field HTTPProxySpec.spec.routes of type []v1.Route",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := webhook.NewValidator(newDecider(t, settings, stored...), webhook.Options{})
			rec, resp := post(t, v, tc.body(t))
			if resp == nil {
				t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
			}
			if resp.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v (%+v)", resp.Allowed, tc.wantAllowed, resp.Result)
			}
			var code int32
			var msg string
			if resp.Result != nil {
				code, msg = resp.Result.Code, resp.Result.Message
			}
			if code != tc.wantCode {
				t.Errorf("code = %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantMessage, msg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, resp.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidator_malformedRequests(t *testing.T) {
	v := webhook.NewValidator(newDecider(t, policy.Settings{}), webhook.Options{})
	cases := map[string]struct {
		body     string
		wantCode int
		wantBody string
	}{
		"not_json":      {body: "{", wantCode: 400, wantBody: "warden: malformed admission review: unexpected end of JSON input"},
		"no_request":    {body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantCode: 400, wantBody: "warden: malformed admission review: no request"},
		"no_uid":        {body: `{"request":{"operation":"CREATE"}}`, wantCode: 400, wantBody: "warden: malformed admission review: request has no uid"},
		"wrong_request": {body: `{"request":[]}`, wantCode: 400, wantBody: "warden: malformed admission review: json: cannot unmarshal array"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec, _ := post(t, v, []byte(tc.body))
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("HTTP %d %q, want %d containing %q", rec.Code, rec.Body, tc.wantCode, tc.wantBody)
			}
		})
	}
	t.Run("oversized_body_is_413", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/validate", strings.NewReader(strings.Repeat("x", 2048)))
		req.Body = http.MaxBytesReader(rec, req.Body, 1024)
		v.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("HTTP %d %q, want 413", rec.Code, rec.Body)
		}
	})
}

// slowDecider blocks until its context ends: a stand-in for a pathological policy, to
// test the deadline of this package alone.
type slowDecider struct{}

func (slowDecider) Decide(ctx context.Context, _ policy.Change) (*policy.Decision, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestValidator_deadline(t *testing.T) {
	v := webhook.NewValidator(slowDecider{}, webhook.Options{Timeout: 50 * time.Millisecond})
	_, resp := post(t, v, reviewFor(t, admissionv1.Create, proxyKind, fx.Proxy("a", "b").Obj(), false))
	if resp.Allowed || resp.Result.Code != 503 || !strings.Contains(resp.Result.Message, "no decision within 50ms") {
		t.Errorf("got %+v, want a 503 naming the deadline", resp.Result)
	}
}

func TestMutator(t *testing.T) {
	d := newDecider(t, policy.Settings{IngressClassName: "warden"})
	m := webhook.NewMutator(d.Mutate, webhook.Options{})
	p := fx.Proxy("roots", "app").FQDN("App.Example.com").Include("", "child").Obj()
	_, resp := post(t, m, reviewFor(t, admissionv1.Create, proxyKind, p, false))
	if !resp.Allowed || resp.PatchType == nil {
		t.Fatalf("want an allowed JSON patch, got %+v", resp)
	}
	var ops []map[string]any
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"op": "add", "path": "/spec/ingressClassName", "value": "warden"},
		{"op": "add", "path": "/spec/includes/0/namespace", "value": "roots"},
		{"op": "replace", "path": "/spec/virtualhost/fqdn", "value": "app.example.com"},
	}
	if diff := cmp.Diff(want, ops, sortOps()); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	// Reinvocation on the patched object patches nothing.
	p.Spec.VirtualHost.Fqdn, p.Spec.Includes[0].Namespace, p.Spec.IngressClassName = "app.example.com", "roots", "warden"
	_, resp = post(t, m, reviewFor(t, admissionv1.Update, proxyKind, p, false))
	if !resp.Allowed || resp.Patch != nil {
		t.Errorf("second invocation patched %s", resp.Patch)
	}
}
