package controller

import (
	"fmt"
	"testing"

	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// scaleWorld fills w with BenchmarkScale's cluster (e2e): 1,000 TLS roots, each including 4
// children spread over 100 namespaces, a Service and an EndpointSlice per child.
func scaleWorld(w *world) {
	for r := range 1000 {
		cert := fmt.Sprintf("tls-%04d", r)
		w.secret("roots", cert, "crt", false)
		root := fx.Proxy("roots", fmt.Sprintf("root-%04d", r)).Created(2).FQDN(fmt.Sprintf("app-%04d.example.com", r)).TLS(cert)
		for c := range 4 {
			i := r*4 + c
			ns, name, svc := fmt.Sprintf("team-%03d", i%100), fmt.Sprintf("child-%04d", i), fmt.Sprintf("svc-%04d", i)
			w.service(fx.Service(ns, svc, 80), false)
			w.slice(endpointSlice(ns, svc, svc+"-1", fmt.Sprintf("10.%d.%d.1", i/250, i%250)), false)
			w.proxy(fx.Proxy(ns, name).Created(1).Route(svc, 80, fx.Prefix("/a")).Route(svc, 80, fx.Prefix("/b")).Obj())
			root.Include(ns, name, fx.Prefix(fmt.Sprintf("/c%d", c)))
		}
		w.proxy(root.Obj())
	}
}

// BenchmarkPipelineFullBuild is a start or restart: every proxy judged, the model built
// from scratch, every Secret read (no Publisher work).
func BenchmarkPipelineFullBuild(b *testing.B) {
	w := newWorld(b)
	scaleWorld(w)
	w.rebuild()
	b.ResetTimer()
	for b.Loop() {
		w.p.opts.Verdicts.InvalidateAll()
		w.p.ResyncAll(b.Context())
		w.rebuild()
	}
}

// BenchmarkPipelineRouteChange is one child's route changed at scale: the tree judged
// again, one vhost rebuilt (no Publisher work).
func BenchmarkPipelineRouteChange(b *testing.B) {
	w := newWorld(b)
	scaleWorld(w)
	w.rebuild()
	n := 0
	for b.Loop() {
		n++
		i := (n * 197) % 4000
		ns, name, svc := fmt.Sprintf("team-%03d", i%100), fmt.Sprintf("child-%04d", i), fmt.Sprintf("svc-%04d", i)
		w.proxy(fx.Proxy(ns, name).Created(1).Route(svc, 80, fx.Prefix(fmt.Sprintf("/a-v%d", n))).Route(svc, 80, fx.Prefix("/b")).Obj())
		w.rebuild()
	}
	if got := w.p.states.counts[policy.StatusValid]; got != 5000 {
		b.Fatalf("%d valid proxies, want 5000", got)
	}
}
