package policy_test

import (
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// The benchmark inventory: 10,000 HTTPProxies across 200 namespaces. 2,000 roots live in 20
// root namespaces, each with a TLS certificate delegated from the certs namespace and 4
// includes of children spread over 180 team namespaces; every child routes to a Service.
const (
	benchRoots      = 2000
	benchIncludes   = 4
	benchRootNS     = 20
	benchTeamNS     = 180
	benchNamespaces = benchRootNS + benchTeamNS
)

func benchObjects() (policy.Settings, []client.Object) {
	s := policy.Settings{}
	var objs []client.Object
	for i := 0; i < benchRootNS; i++ {
		ns := fmt.Sprintf("roots-%02d", i)
		s.RootNamespaces = append(s.RootNamespaces, ns)
		objs = append(objs, fx.Namespace(ns, "tier", "edge"))
	}
	objs = append(objs, fx.Namespace("certs"), fx.Secret("certs", "wildcard"), fx.Delegation("certs", "wildcard", "wildcard", s.RootNamespaces...))
	for i := 0; i < benchTeamNS; i++ {
		ns := fmt.Sprintf("team-%03d", i)
		objs = append(objs, fx.Namespace(ns, "team", ns), fx.Service(ns, "web", 80))
	}
	created := 0
	for r := 0; r < benchRoots; r++ {
		root := fx.Proxy(s.RootNamespaces[r%benchRootNS], fmt.Sprintf("root-%04d", r)).
			FQDN(fmt.Sprintf("app-%04d.example.com", r)).TLS("certs/wildcard")
		for c := 0; c < benchIncludes; c++ {
			idx := r*benchIncludes + c
			ns := fmt.Sprintf("team-%03d", idx%benchTeamNS)
			name := fmt.Sprintf("child-%05d", idx)
			created++
			objs = append(objs, fx.Proxy(ns, name).Created(created).Route("web", 80, fx.Prefix("/v1")).Obj())
			root.Include(ns, name, fx.Prefix(fmt.Sprintf("/c%d", c)))
		}
		created++
		objs = append(objs, root.Created(created).Obj())
	}
	return s, objs
}

func benchDecider(b *testing.B) *policy.Decider {
	b.Helper()
	s, objs := benchObjects()
	d := newDecider(b, s, objs...)
	if n := d.Inventory().Len(); n != benchRoots*(benchIncludes+1) {
		b.Fatalf("inventory holds %d proxies", n)
	}
	return d
}

// BenchmarkDecide measures one admission decision against the 10,000-proxy inventory.
func BenchmarkDecide(b *testing.B) {
	d := benchDecider(b)
	newRoot := fx.Proxy("roots-00", "new-root").FQDN("new.example.com").TLS("certs/wildcard").
		Include("team-001", "child-00001", fx.Prefix("/a")).Include("team-002", "child-00002", fx.Prefix("/b")).
		Include("team-003", "child-00003", fx.Prefix("/c")).Include("team-004", "child-00004", fx.Prefix("/d")).Obj()
	newChild := fx.Proxy("team-007", "new-child").Route("web", 80, fx.Prefix("/x")).Obj()
	dupRoot := fx.Proxy("roots-01", "dup").FQDN("app-0001.example.com").Route("web", 80).Obj()
	cases := map[string]policy.Change{
		"create_root_with_4_includes":  {Operation: policy.Create, Object: newRoot},
		"create_child":                 {Operation: policy.Create, Object: newChild},
		"create_duplicate_fqdn_root":   {Operation: policy.Create, Object: dupRoot},
		"create_root_judging_affected": {Operation: policy.Create, Object: newRoot, JudgeAffected: true},
	}
	for name, c := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decide(b.Context(), c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJudge measures the controller's judgement of one stored root and one child.
func BenchmarkJudge(b *testing.B) {
	d := benchDecider(b)
	for name, k := range map[string]policy.Key{
		"root":  {Namespace: "roots-05", Name: "root-0005"},
		"child": {Namespace: "team-020", Name: "child-00020"},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Judge(b.Context(), k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInventoryApply measures replacing one HTTPProxy in the 10,000-proxy inventory.
func BenchmarkInventoryApply(b *testing.B) {
	d := benchDecider(b)
	inv := d.Inventory()
	versions := []client.Object{
		fx.Proxy("roots-03", "root-0003").Created(1).FQDN("app-0003.example.com").TLS("certs/wildcard").
			Include("team-012", "child-00012", fx.Prefix("/c0")).Include("team-013", "child-00013", fx.Prefix("/c1")).Obj(),
		fx.Proxy("roots-03", "root-0003").Created(1).FQDN("app-0003.example.com").TLS("certs/wildcard").
			Include("team-012", "child-00012", fx.Prefix("/c0")).Include("team-014", "child-00014", fx.Prefix("/c2")).Obj(),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		inv.Apply(versions[i%2])
		i++
	}
}
