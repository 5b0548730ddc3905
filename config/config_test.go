package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/policy"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		in   string
		want policy.Settings
	}{
		"empty_file_is_the_default": {in: "", want: policy.Settings{}},
		"all_keys": {
			in: "httpproxy:\n  rootNamespaces: [roots, marketing]\n  disablePermitInsecure: true\n  fallbackCertificate: {namespace: certs, name: fallback}\n",
			want: policy.Settings{RootNamespaces: []string{"roots", "marketing"}, DisablePermitInsecure: true,
				FallbackCertificate: &policy.Key{Namespace: "certs", Name: "fallback"}},
		},
		"empty_root_namespaces_allow_all": {in: "httpproxy:\n  rootNamespaces: []\n", want: policy.Settings{RootNamespaces: []string{}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := config.Parse("warden.yaml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.PolicySettings()); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParse_errors(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"unknown_top_level_key": {
			in:   "httpproxy: {}\nxds:\n  port: 1\n",
			want: `warden.yaml:2: unknown key "xds"`,
		},
		"misspelled_nested_key": {
			in:   "httpproxy:\n  rootNamespaces: [a]\n  disablePermitInsecur: true\n",
			want: `warden.yaml:3: unknown key "httpproxy.disablePermitInsecur"`,
		},
		"wrong_type": {
			in:   "httpproxy:\n  disablePermitInsecure: maybe\n",
			want: "warden.yaml: invalid value: json: cannot unmarshal string into Go struct field HTTPProxy.httpproxy.disablePermitInsecure of type bool",
		},
		"bad_namespace_name": {
			in:   "httpproxy:\n  rootNamespaces: [Roots]\n",
			want: `warden.yaml:2: httpproxy.rootNamespaces[0]: "Roots" is not a namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		},
		"duplicate_root_namespace": {
			in:   "httpproxy:\n  rootNamespaces: [a, a]\n",
			want: `warden.yaml:2: httpproxy.rootNamespaces[1]: "a" is listed twice`,
		},
		"fallback_without_name": {
			in:   "httpproxy:\n  fallbackCertificate:\n    namespace: certs\n",
			want: "warden.yaml:2: httpproxy.fallbackCertificate needs both namespace and name",
		},
		"not_yaml": {
			in:   "httpproxy: [\n",
			want: "warden.yaml: yaml: line 1: did not find expected node content",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse("warden.yaml", []byte(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
