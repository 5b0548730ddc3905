package policy_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

func TestRelated(t *testing.T) {
	stored := []client.Object{
		svcA, fx.Secret("certs", "wild"), fx.Delegation("certs", "d", "wild", "roots"),
		fx.Proxy("team-a", "child").Created(1).Route("web", 80).Obj(),
		fx.Proxy("team-a", "grandchild").Created(1).Route("web", 80).Obj(),
		fx.Proxy("team-a", "mid").Created(1).Include("", "grandchild").Obj(),
		fx.Proxy("roots", "app").Created(2).FQDN("app.example.com").TLS("certs/wild").Include("team-a", "child").Include("team-a", "mid").Obj(),
		fx.Proxy("roots", "dup").Created(3).FQDN("app.example.com").Route("web", 80).Obj(),
		fx.Proxy("roots", "other").Created(4).FQDN("other.example.com").Route("web", 80).Obj(),
		fx.Proxy("team-b", "unrelated").Created(5).Route("api", 80).Obj(),
	}
	d := newDecider(t, policy.Settings{}, stored...)
	key := func(s string) policy.Key {
		ns, name, _ := strings.Cut(s, "/")
		return policy.Key{Namespace: ns, Name: name}
	}
	cases := map[string]struct {
		kind string
		key  string
		want []string
	}{
		"a_grandchild_relates_its_whole_tree_and_fqdn_rivals": {
			kind: policy.KindHTTPProxy, key: "team-a/grandchild",
			want: []string{"roots/app", "roots/dup", "team-a/child", "team-a/grandchild", "team-a/mid"},
		},
		"a_missing_proxy_relates_only_itself": {
			kind: policy.KindHTTPProxy, key: "team-z/gone", want: []string{"team-z/gone"},
		},
		"a_delegation_relates_the_users_of_its_namespace_secrets": {
			kind: policy.KindTLSCertificateDelegation, key: "certs/d",
			want: []string{"roots/app", "roots/dup", "team-a/child", "team-a/grandchild", "team-a/mid"},
		},
		"a_service_relates_the_proxies_routing_to_it": {
			kind: policy.KindService, key: "team-a/web", want: []string{"team-a/child", "team-a/grandchild"},
		},
		"a_secret_relates_its_users_trees": {
			kind: policy.KindSecret, key: "certs/wild",
			want: []string{"roots/app", "roots/dup", "team-a/child", "team-a/grandchild", "team-a/mid"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, k := range d.Related(tc.kind, key(tc.key)) {
				got = append(got, k.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("related (-want +got):\n%s", diff)
			}
		})
	}
}
