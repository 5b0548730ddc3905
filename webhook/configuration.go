package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Webhook paths served by Warden.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// ConfigurationOptions place Warden's webhook configurations.
type ConfigurationOptions struct {
	// Name of both configuration objects, e.g. "warden".
	Name string
	// Service is the in-cluster Service in front of Warden.
	ServiceNamespace, ServiceName string
	ServicePort                   int32
	// URL, when set, is used instead of the Service: a base such as https://127.0.0.1:9443
	// for a Warden running outside the cluster (tests, `make run`).
	URL string
	// CABundle verifies Warden's serving certificate.
	CABundle []byte
	// TimeoutSeconds is the API server's timeout for one call. Default 5; Warden's own
	// deadline (DefaultTimeout) is below it.
	TimeoutSeconds int32
}

// Configurations returns the webhook configurations that send Warden the requests it judges.
// They fail closed: an HTTPProxy change Warden cannot judge is not admitted, because the
// webhook is scoped to Warden's own kinds (see the emergency procedure in the chart's notes).
func Configurations(o ConfigurationOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 5
	}
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		p := path
		if o.URL != "" {
			u := o.URL + path
			return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: o.CABundle}
		}
		return admissionregistrationv1.WebhookClientConfig{
			Service:  &admissionregistrationv1.ServiceReference{Namespace: o.ServiceNamespace, Name: o.ServiceName, Path: &p, Port: &o.ServicePort},
			CABundle: o.CABundle,
		}
	}
	rule := func(group, version string, resources []string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources,
		}}
	}
	cud := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "httpproxies.mutate.warden.dev",
			ClientConfig:            client(MutatePath),
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule("projectcontour.io", "v1", []string{"httpproxies"}, admissionregistrationv1.Create, admissionregistrationv1.Update)},
			FailurePolicy:           &fail,
			MatchPolicy:             &equivalent,
			SideEffects:             &none,
			TimeoutSeconds:          &o.TimeoutSeconds,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      &ifNeeded,
		}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "delegation.validate.warden.dev",
			ClientConfig: client(ValidatePath),
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule("projectcontour.io", "v1", []string{"httpproxies", "tlscertificatedelegations"}, cud...),
				rule("policy.warden.dev", "v1alpha1", []string{"delegationpolicies"}, admissionregistrationv1.Create, admissionregistrationv1.Update),
			},
			FailurePolicy:           &fail,
			MatchPolicy:             &equivalent,
			SideEffects:             &none,
			TimeoutSeconds:          &o.TimeoutSeconds,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	return mutating, validating
}
