package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

const labelPolicy = `package teamlabel

# Every HTTPProxy in a namespace labelled team=X carries the label team=X.
patch contains {"op": "add", "path": "/metadata/labels/team", "value": team} if {
	team := input.namespace.labels.team
	object.get(input.object.metadata, ["labels", "team"], "") == ""
}

# A patch outside the spec, labels and annotations is skipped with a warning.
patch contains {"op": "replace", "path": "/metadata/name", "value": "renamed"} if {
	input.object.metadata.annotations["try-rename"] == "yes"
}
`

func TestMutate(t *testing.T) {
	cases := map[string]struct {
		settings policy.Settings
		in       string
		want     string
		changes  []string
		warnings []string
	}{
		"include_namespace_defaults_to_own_namespace": {
			in:      `{"metadata":{"name":"app","namespace":"roots"},"spec":{"includes":[{"name":"a"},{"name":"b","namespace":"team-b"}]}}`,
			want:    `{"metadata":{"name":"app","namespace":"roots"},"spec":{"includes":[{"name":"a","namespace":"roots"},{"name":"b","namespace":"team-b"}]}}`,
			changes: []string{"spec.includes[0].namespace defaulted to roots"},
		},
		"fqdn_lower_cased": {
			in:      `{"metadata":{"name":"app","namespace":"roots"},"spec":{"virtualhost":{"fqdn":"App.Example.COM"}}}`,
			want:    `{"metadata":{"name":"app","namespace":"roots"},"spec":{"virtualhost":{"fqdn":"app.example.com"}}}`,
			changes: []string{"spec.virtualhost.fqdn lower-cased"},
		},
		"ingress_class_set_when_configured_and_empty": {
			settings: policy.Settings{IngressClassName: "warden"},
			in:       `{"metadata":{"name":"app","namespace":"roots"},"spec":{}}`,
			want:     `{"metadata":{"name":"app","namespace":"roots"},"spec":{"ingressClassName":"warden"}}`,
			changes:  []string{"spec.ingressClassName defaulted to warden"},
		},
		"user_set_ingress_class_kept": {
			settings: policy.Settings{IngressClassName: "warden"},
			in:       `{"metadata":{"name":"app","namespace":"roots"},"spec":{"ingressClassName":"other"}}`,
			want:     `{"metadata":{"name":"app","namespace":"roots"},"spec":{"ingressClassName":"other"}}`,
		},
		"admin_patch_adds_team_label": {
			in:      `{"metadata":{"name":"app","namespace":"team-a"},"spec":{}}`,
			want:    `{"metadata":{"labels":{"team":"a"},"name":"app","namespace":"team-a"},"spec":{}}`,
			changes: []string{"DelegationPolicy team-label: add /metadata/labels/team"},
		},
		"admin_patch_does_not_override_user_label": {
			in:   `{"metadata":{"labels":{"team":"z"},"name":"app","namespace":"team-a"},"spec":{}}`,
			want: `{"metadata":{"labels":{"team":"z"},"name":"app","namespace":"team-a"},"spec":{}}`,
		},
		"admin_patch_outside_spec_and_labels_skipped": {
			in:       `{"metadata":{"annotations":{"try-rename":"yes"},"labels":{"team":"a"},"name":"app","namespace":"team-a"},"spec":{}}`,
			want:     `{"metadata":{"annotations":{"try-rename":"yes"},"labels":{"team":"a"},"name":"app","namespace":"team-a"},"spec":{}}`,
			warnings: []string{"DelegationPolicy team-label: patch replace /metadata/name skipped: path must be under /spec, /metadata/labels, /metadata/annotations"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDecider(t, tc.settings, fx.Namespace("team-a", "team", "a"),
				fx.Policy("team-label", labelPolicy, "", policyv1alpha1.EnforcementDeny))
			ns := namespaceOf(t, tc.in)
			m, err := d.Mutate(t.Context(), policy.MutateRequest{Operation: policy.Create, Namespace: ns, Object: []byte(tc.in)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(m.Object)); diff != "" {
				t.Errorf("object (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.changes, m.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warnings, m.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			again, err := d.Mutate(t.Context(), policy.MutateRequest{Operation: policy.Create, Namespace: ns, Object: m.Object})
			if err != nil {
				t.Fatal(err)
			}
			if string(again.Object) != string(m.Object) || len(again.Changes) != 0 {
				t.Errorf("second mutation changed %s -> %s (%v): not idempotent", m.Object, again.Object, again.Changes)
			}
		})
	}
}

func namespaceOf(t *testing.T, obj string) string {
	t.Helper()
	var o struct {
		Metadata struct{ Namespace string } `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(obj), &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata.Namespace
}
