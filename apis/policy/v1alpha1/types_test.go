package v1alpha1

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// The generated deepcopy functions make both kinds runtime.Objects.
var (
	_ runtime.Object = (*DelegationPolicy)(nil)
	_ runtime.Object = (*DelegationPolicyList)(nil)
)

// crdPath is the CRD that `go generate` writes for this package, relative to this directory.
var crdPath = filepath.Join("..", "..", "..", "charts", "warden", "crds", "policy.warden.dev_delegationpolicies.yaml")

func TestDelegationPolicyYAMLRoundTrip(t *testing.T) {
	cases := map[string]struct {
		in   string
		want DelegationPolicy
	}{
		"minimal": {
			in: `
apiVersion: policy.warden.dev/v1alpha1
kind: DelegationPolicy
metadata:
  name: team-subdomains
spec:
  rego: |
    package warden.admin.team_subdomains
    deny contains "no" if false
`,
			want: DelegationPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: "policy.warden.dev/v1alpha1", Kind: "DelegationPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: "team-subdomains"},
				Spec: DelegationPolicySpec{
					Rego: "package warden.admin.team_subdomains\ndeny contains \"no\" if false\n",
				},
			},
		},
		"full": {
			in: `
apiVersion: policy.warden.dev/v1alpha1
kind: DelegationPolicy
metadata:
  name: insecure-internal-only
  generation: 3
spec:
  rego: package p
  tests: |
    package p_test
    test_ok if true
  enforcement: warn
status:
  observedGeneration: 3
  compiled: true
  testsPassed: false
  error: "1 test failed"
  denying: 2
  warning: 5
  conditions:
  - type: Ready
    status: "False"
    reason: TestsFailed
    message: "1 test failed"
    observedGeneration: 3
    lastTransitionTime: "2026-01-02T03:04:05Z"
`,
			want: DelegationPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: "policy.warden.dev/v1alpha1", Kind: "DelegationPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: "insecure-internal-only", Generation: 3},
				Spec: DelegationPolicySpec{
					Rego:        "package p",
					Tests:       "package p_test\ntest_ok if true\n",
					Enforcement: EnforcementWarn,
				},
				Status: DelegationPolicyStatus{
					ObservedGeneration: 3,
					Compiled:           true,
					TestsPassed:        false,
					Error:              "1 test failed",
					Denying:            2,
					Warning:            5,
					Conditions: []metav1.Condition{{
						Type:               "Ready",
						Status:             metav1.ConditionFalse,
						Reason:             "TestsFailed",
						Message:            "1 test failed",
						ObservedGeneration: 3,
						LastTransitionTime: metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
					}},
				},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got DelegationPolicy
			if err := yaml.UnmarshalStrict([]byte(tc.in), &got); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decoded object mismatch (-want +got):\n%s", diff)
			}

			out, err := yaml.Marshal(&got)
			if err != nil {
				t.Fatalf("encoding: %v", err)
			}
			var again DelegationPolicy
			if err := yaml.UnmarshalStrict(out, &again); err != nil {
				t.Fatalf("decoding the re-encoded object: %v\n%s", err, out)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("object changed across a YAML round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatalf("AddToScheme: %v", err)
	}
	// A second call must be harmless: several components may build their scheme from the
	// same list of AddToScheme funcs.
	if err := AddToScheme(s); err != nil {
		t.Fatalf("AddToScheme, second call: %v", err)
	}

	cases := map[string]struct {
		obj  runtime.Object
		kind string
	}{
		"DelegationPolicy":     {obj: &DelegationPolicy{}, kind: "DelegationPolicy"},
		"DelegationPolicyList": {obj: &DelegationPolicyList{}, kind: "DelegationPolicyList"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := GroupVersion().WithKind(tc.kind)
			gvks, _, err := s.ObjectKinds(tc.obj)
			if err != nil {
				t.Fatalf("ObjectKinds: %v", err)
			}
			if diff := cmp.Diff([]schema.GroupVersionKind{want}, gvks); diff != "" {
				t.Errorf("registered kinds mismatch (-want +got):\n%s", diff)
			}
			obj, err := s.New(want)
			if err != nil {
				t.Fatalf("New(%v): %v", want, err)
			}
			if diff := cmp.Diff(tc.obj, obj); diff != "" {
				t.Errorf("New(%v) mismatch (-want +got):\n%s", want, diff)
			}
		})
	}

	// metav1.AddToGroupVersion registers the option types that clients send for the group.
	if !s.Recognizes(GroupVersion().WithKind("ListOptions")) {
		t.Errorf("scheme does not recognise ListOptions in %v", GroupVersion())
	}
}

func TestEffectiveEnforcement(t *testing.T) {
	cases := map[string]struct {
		in   Enforcement
		want Enforcement
	}{
		"empty defaults to deny": {in: "", want: EnforcementDeny},
		"deny":                   {in: EnforcementDeny, want: EnforcementDeny},
		"warn":                   {in: EnforcementWarn, want: EnforcementWarn},
		"audit":                  {in: EnforcementAudit, want: EnforcementAudit},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := DelegationPolicySpec{Rego: "package p", Enforcement: tc.in}.EffectiveEnforcement()
			if got != tc.want {
				t.Errorf("EffectiveEnforcement() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGeneratedCRD(t *testing.T) {
	raw, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatalf("reading the generated CRD (run `go generate ./apis/...`): %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		t.Fatalf("decoding %s: %v", crdPath, err)
	}

	if got, want := crd.Name, "delegationpolicies."+GroupName; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	if got, want := crd.Spec.Group, GroupName; got != want {
		t.Errorf("group = %q, want %q", got, want)
	}
	if got, want := crd.Spec.Scope, apiextensionsv1.ClusterScoped; got != want {
		t.Errorf("scope = %q, want %q", got, want)
	}
	wantNames := apiextensionsv1.CustomResourceDefinitionNames{
		Plural:     "delegationpolicies",
		Singular:   "delegationpolicy",
		ShortNames: []string{"dpol", "delegationpolicy"},
		Kind:       "DelegationPolicy",
		ListKind:   "DelegationPolicyList",
		Categories: []string{"warden"},
	}
	if diff := cmp.Diff(wantNames, crd.Spec.Names); diff != "" {
		t.Errorf("names mismatch (-want +got):\n%s", diff)
	}

	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("got %d versions, want 1", len(crd.Spec.Versions))
	}
	v := crd.Spec.Versions[0]
	if v.Name != Version || !v.Served || !v.Storage {
		t.Errorf("version = {name: %q, served: %t, storage: %t}, want {name: %q, served: true, storage: true}",
			v.Name, v.Served, v.Storage, Version)
	}
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Errorf("status subresource missing: subresources = %+v", v.Subresources)
	}

	var columns []string
	for _, c := range v.AdditionalPrinterColumns {
		columns = append(columns, c.Name+"="+c.JSONPath)
	}
	wantColumns := []string{
		"Enforcement=.spec.enforcement",
		"Compiled=.status.compiled",
		"Tests=.status.testsPassed",
		"Denying=.status.denying",
		"Age=.metadata.creationTimestamp",
	}
	if diff := cmp.Diff(wantColumns, columns); diff != "" {
		t.Errorf("printer columns mismatch (-want +got):\n%s", diff)
	}

	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		t.Fatal("version has no OpenAPI schema")
	}
	spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		t.Fatal("schema has no spec property")
	}
	if diff := cmp.Diff([]string{"rego"}, spec.Required); diff != "" {
		t.Errorf("spec.required mismatch (-want +got):\n%s", diff)
	}
	if rego := spec.Properties["rego"]; rego.MinLength == nil || *rego.MinLength != 1 {
		t.Errorf("spec.rego minLength = %v, want 1", rego.MinLength)
	}

	enf := spec.Properties["enforcement"]
	var enum []string
	for _, e := range enf.Enum {
		var s string
		if err := json.Unmarshal(e.Raw, &s); err != nil {
			t.Fatalf("decoding enum value %s: %v", e.Raw, err)
		}
		enum = append(enum, s)
	}
	wantEnum := []string{string(EnforcementDeny), string(EnforcementWarn), string(EnforcementAudit)}
	if diff := cmp.Diff(wantEnum, enum); diff != "" {
		t.Errorf("spec.enforcement enum mismatch (-want +got):\n%s", diff)
	}
	if enf.Default == nil {
		t.Fatal("spec.enforcement has no default")
	}
	var def string
	if err := json.Unmarshal(enf.Default.Raw, &def); err != nil {
		t.Fatalf("decoding spec.enforcement default %s: %v", enf.Default.Raw, err)
	}
	if def != string(EnforcementDeny) {
		t.Errorf("spec.enforcement default = %q, want %q", def, EnforcementDeny)
	}
}
