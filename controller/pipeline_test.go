package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/policy"
	fx "github.com/projectwarden/warden/policy/fixture"
)

// recorder is a Publisher that keeps the models it is given.
type recorder struct{ published int }

func (r *recorder) Publish(context.Context, *model.Model) error { r.published++; return nil }

// world drives a Pipeline the way `warden serve` does, without informers: each change is
// applied to the Decider, the affected proxies are enqueued (Changes), and Services,
// EndpointSlices and Secrets go to the pipeline's handlers. Secret data is read from a
// fake client.
type world struct {
	t       testing.TB
	d       *policy.Decider
	changes *Changes
	p       *Pipeline
	pub     *recorder
	secrets client.Client

	services map[model.Key]*corev1.Service
	slices   map[model.Key]*discoveryv1.EndpointSlice
	secretOK map[model.Key]bool
}

func newWorld(t testing.TB) *world {
	t.Helper()
	d, err := policy.NewDecider(t.Context(), policy.Settings{RootNamespaces: []string{"roots"}})
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, d: d, changes: NewChanges(d), pub: &recorder{},
		secrets:  fake.NewClientBuilder().WithScheme(s).Build(),
		services: map[model.Key]*corev1.Service{}, slices: map[model.Key]*discoveryv1.EndpointSlice{},
		secretOK: map[model.Key]bool{}}
	w.p, err = New(d, w.secrets, w.pub, Options{Verdicts: NewVerdicts(d.Judge)})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) affected(kind string, k policy.Key) {
	keys := w.changes.Affected(kind, k)
	w.p.opts.Verdicts.Invalidate(keys...)
	w.p.Enqueue(keys...)
}

func (w *world) proxy(p *contourv1.HTTPProxy) {
	w.t.Helper()
	if err := w.d.Apply(w.t.Context(), p); err != nil {
		w.t.Fatal(err)
	}
	w.affected(policy.KindHTTPProxy, policy.Key{Namespace: p.Namespace, Name: p.Name})
}

func (w *world) deleteProxy(ns, name string) {
	w.t.Helper()
	if err := w.d.Remove(w.t.Context(), &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		w.t.Fatal(err)
	}
	w.affected(policy.KindHTTPProxy, policy.Key{Namespace: ns, Name: name})
}

func (w *world) service(s *corev1.Service, deleted bool) {
	w.t.Helper()
	var err error
	if deleted {
		err = w.d.Remove(w.t.Context(), s)
		delete(w.services, model.KeyOf(s))
	} else {
		err = w.d.Apply(w.t.Context(), s)
		w.services[model.KeyOf(s)] = s
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.affected(policy.KindService, policy.Key{Namespace: s.Namespace, Name: s.Name})
	w.p.onService(s, deleted)
}

func (w *world) slice(s *discoveryv1.EndpointSlice, deleted bool) {
	if deleted {
		delete(w.slices, model.KeyOf(s))
	} else {
		w.slices[model.KeyOf(s)] = s
	}
	w.p.onSlice(s, deleted)
}

func (w *world) secret(ns, name, data string, deleted bool) {
	w.t.Helper()
	s := fx.Secret(ns, name)
	s.Data = map[string][]byte{"tls.crt": []byte(data)}
	ctx := w.t.Context()
	var err error
	if deleted {
		err = w.d.Remove(ctx, s)
		if err == nil {
			err = w.secrets.Delete(ctx, s)
		}
		delete(w.secretOK, model.KeyOf(s))
	} else {
		err = w.d.Apply(ctx, s)
		if err == nil {
			err = w.secrets.Create(ctx, s.DeepCopy())
		}
		w.secretOK[model.KeyOf(s)] = true
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.affected(policy.KindSecret, policy.Key{Namespace: ns, Name: name})
	w.p.onSecret(s, deleted)
}

// rebuild runs rounds of the pipeline until no Secret is being read in the background.
func (w *world) rebuild() {
	w.t.Helper()
	for {
		if _, err := w.p.rebuild(w.t.Context()); err != nil {
			w.t.Fatal(err)
		}
		if len(w.p.secretData.inflight) == 0 {
			return
		}
		<-w.p.wake // a background read hands its result over
	}
}

// reference builds the model from scratch: every stored proxy judged, the accepted ones
// with every Service, EndpointSlice and Secret.
func (w *world) reference() *model.Model {
	w.t.Helper()
	in := model.NewInput()
	for _, k := range w.d.Inventory().ProxyKeys() {
		v, err := w.d.Judge(w.t.Context(), k)
		if err != nil {
			w.t.Fatal(err)
		}
		if v != nil && v.Accepted() {
			in.Add(w.d.Inventory().Proxy(k))
		}
	}
	for _, s := range w.services {
		in.Add(s)
	}
	for _, s := range w.slices {
		in.Add(s)
	}
	for k := range w.secretOK {
		in.Secrets.Insert(k)
	}
	return model.Build(in, model.Options{})
}

func render(t testing.TB, m *model.Model) string {
	t.Helper()
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// check compares the pipeline's model with the reference, and its Secret data with what
// the fake client holds.
func (w *world) check(step string) {
	w.t.Helper()
	if diff := cmp.Diff(render(w.t, w.reference()), render(w.t, w.p.model)); diff != "" {
		w.t.Fatalf("after %s, the pipeline's model differs from a full build (-full +pipeline):\n%s", step, diff)
	}
	for _, s := range w.p.model.Secrets {
		var stored corev1.Secret
		if err := w.secrets.Get(w.t.Context(), client.ObjectKey{Namespace: s.Name.Namespace, Name: s.Name.Name}, &stored); err != nil {
			w.t.Fatal(err)
		}
		if got, want := string(s.Data["tls.crt"]), string(stored.Data["tls.crt"]); got != want {
			w.t.Errorf("after %s, secret %s data %q, want %q", step, s.Name, got, want)
		}
	}
}

func endpointSlice(ns, svc, name, addr string) *discoveryv1.EndpointSlice {
	port, ready := int32(8080), true
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
}

// TestPipeline_incrementalEqualsFullBuild makes one change at a time, as informers deliver
// them, rebuilds incrementally after each, and compares the result with a model built
// from scratch.
func TestPipeline_incrementalEqualsFullBuild(t *testing.T) {
	w := newWorld(t)
	w.rebuild() // the first, full build of an empty cluster
	w.check("start")
	child := func(ns, name, svc, prefix string) *contourv1.HTTPProxy {
		return fx.Proxy(ns, name).Created(1).Route(svc, 80, fx.Prefix(prefix)).Obj()
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"children before their roots (orphaned)", func() {
			w.proxy(child("team-a", "c1", "web", "/"))
			w.proxy(child("team-b", "c2", "api", "/"))
		}},
		{"a Service and its EndpointSlice", func() {
			w.service(fx.Service("team-a", "web", 80), false)
			w.slice(endpointSlice("team-a", "web", "web-1", "10.0.0.1"), false)
		}},
		{"a TLS root including both children", func() {
			w.secret("roots", "cert", "v1", false)
			w.proxy(fx.Proxy("roots", "app").Created(2).FQDN("App.example.com").TLS("cert").
				Include("team-a", "c1", fx.Prefix("/a")).Include("team-b", "c2", fx.Prefix("/b")).Obj())
		}},
		{"the second child's Service", func() { w.service(fx.Service("team-b", "api", 80), false) }},
		{"a second EndpointSlice", func() { w.slice(endpointSlice("team-a", "web", "web-2", "10.0.0.2"), false) }},
		{"an EndpointSlice moved to another Service", func() { w.slice(endpointSlice("team-a", "other", "web-1", "10.0.0.1"), false) }},
		{"new certificate data", func() {
			s := fx.Secret("roots", "cert")
			if err := w.secrets.Delete(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			w.secret("roots", "cert", "v2", false)
		}},
		{"a route changed", func() { w.proxy(child("team-a", "c1", "web", "/v2")) }},
		{"a second root claiming the same fqdn", func() {
			w.proxy(fx.Proxy("roots", "late").Created(3).FQDN("app.example.com").Route("web", 80).Obj())
		}},
		{"the first root deleted", func() { w.deleteProxy("roots", "app") }},
		{"the late root renamed its fqdn", func() {
			w.proxy(fx.Proxy("roots", "late").Created(3).FQDN("late.example.com").Include("team-a", "c1").Obj())
		}},
		{"a Service deleted", func() { w.service(fx.Service("team-a", "web", 80), true) }},
		{"an EndpointSlice deleted", func() { w.slice(endpointSlice("team-a", "web", "web-2", "10.0.0.2"), true) }},
		{"the secret deleted", func() { w.secret("roots", "cert", "", true) }},
		{"a root outside the root namespaces (invalid)", func() {
			w.proxy(fx.Proxy("team-a", "rogue").Created(4).FQDN("rogue.example.com").Route("web", 80).Obj())
		}},
	}
	for _, s := range steps {
		s.do()
		w.rebuild()
		w.check(s.name)
	}
	if got := w.p.states.counts; got[policy.StatusValid]+got[policy.StatusInvalid]+got[policy.StatusOrphaned] != w.d.Inventory().Len() {
		t.Errorf("state counts %v do not add up to the %d stored proxies", got, w.d.Inventory().Len())
	}
}

// TestPipeline_touchSwapsTheObjectWithoutPublishing: a status write brings a new object
// with the same spec; the pipeline holds the new one and publishes nothing.
func TestPipeline_touchSwapsTheObjectWithoutPublishing(t *testing.T) {
	w := newWorld(t)
	w.proxy(fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").Route("web", 80).Obj())
	w.rebuild()
	before := w.pub.published
	updated := fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").Route("web", 80).Obj()
	updated.Status.CurrentStatus = "valid"
	if err := w.d.Apply(t.Context(), updated); err != nil {
		t.Fatal(err)
	}
	w.p.Touch(policy.Key{Namespace: "roots", Name: "app"})
	if !w.p.onlyTouched() {
		t.Errorf("pending work after a touch is not touches only: the run loop would hold it for the quiet time")
	}
	did, err := w.p.rebuild(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if did || w.pub.published != before {
		t.Errorf("rebuild after a touch: did %v, published %d times (was %d); want nothing", did, w.pub.published, before)
	}
	if got := w.p.in.Proxies[model.Key{Namespace: "roots", Name: "app"}]; got != updated {
		t.Errorf("the pipeline holds %p, want the stored object %p", got, updated)
	}
	for fqdn, r := range w.p.roots {
		for k, obj := range r {
			if obj != w.p.in.Proxies[k] {
				t.Errorf("roots[%s][%s] is not the accepted object", fqdn, k)
			}
		}
	}
	w.p.Touch(policy.Key{Namespace: "roots", Name: "app"})
	w.p.Enqueue(policy.Key{Namespace: "roots", Name: "app"})
	if w.p.onlyTouched() {
		t.Errorf("a change pending beside a touch is taken for touches only")
	}
}

// TestPipeline_unrelatedChangesPublishNothing: changes to objects no vhost uses do not
// rebuild or publish.
func TestPipeline_unrelatedChangesPublishNothing(t *testing.T) {
	w := newWorld(t)
	w.proxy(fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").Route("web", 80).Obj())
	w.rebuild()
	before := w.pub.published
	for i := range 3 {
		w.slice(endpointSlice("elsewhere", "svc", fmt.Sprintf("s-%d", i), "10.1.0.1"), false)
		w.service(fx.Service("elsewhere", "svc", 80), false)
		w.secret("elsewhere", fmt.Sprintf("secret-%d", i), "x", false)
	}
	w.rebuild()
	if w.pub.published != before {
		t.Errorf("published %d times after unrelated changes, want %d", w.pub.published, before)
	}
	w.check("unrelated changes")
}

// TestPipeline_manyNewSecretsAreListed: at a start, when more Secrets of one namespace are
// missing than listSecretsAbove, they are read with one List; the data must be the same.
func TestPipeline_manyNewSecretsAreListed(t *testing.T) {
	w := newWorld(t)
	for i := range listSecretsAbove + 4 {
		name := fmt.Sprintf("cert-%02d", i)
		w.secret("roots", name, "data-"+name, false)
		w.proxy(fx.Proxy("roots", fmt.Sprintf("app-%02d", i)).Created(i).FQDN(fmt.Sprintf("app-%02d.example.com", i)).
			TLS(name).Route("web", 80).Obj())
	}
	if _, err := w.p.rebuild(t.Context()); err != nil { // the first, full build reads before it publishes
		t.Fatal(err)
	}
	if got := len(w.p.model.Secrets); got != listSecretsAbove+4 {
		t.Fatalf("%d secrets in the model, want %d", got, listSecretsAbove+4)
	}
	w.check("a start with many TLS roots")
}

// TestPipeline_rotatedCertificateServedUntilReread: after a Secret changes, the rebuild
// that does not wait for its new data keeps serving the old data.
func TestPipeline_rotatedCertificateServedUntilReread(t *testing.T) {
	w := newWorld(t)
	w.secret("roots", "cert", "v1", false)
	w.proxy(fx.Proxy("roots", "app").Created(1).FQDN("app.example.com").TLS("cert").Route("web", 80).Obj())
	w.rebuild()
	if err := w.secrets.Delete(t.Context(), fx.Secret("roots", "cert")); err != nil {
		t.Fatal(err)
	}
	w.secret("roots", "cert", "v2", false)
	if _, err := w.p.rebuild(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := string(w.p.model.Secrets[0].Data["tls.crt"]); got != "v1" {
		t.Errorf("while v2 is being read, the model serves %q, want v1", got)
	}
	w.rebuild()
	w.check("the rotation")
}

// TestSecretData_laggingReadIsReadAgain: data read at an older resourceVersion than the
// Secret's latest event (a watch cache behind) is served but read again.
func TestSecretData_laggingReadIsReadAgain(t *testing.T) {
	s := newSecretData()
	k := model.Key{Namespace: "roots", Name: "cert"}
	s.changed(k, secretEvent{exists: true, rv: "10"})
	s.store(k, fetched{data: map[string][]byte{"tls.crt": []byte("old")}, rv: "9"})
	m := &model.Model{Secrets: []*model.Secret{{Name: k}}}
	if got := s.missing(m); len(got) != 1 || string(s.data[k]["tls.crt"]) != "old" {
		t.Fatalf("after a lagging read: missing %v, data %q; want it read again and the old data kept", got, s.data[k]["tls.crt"])
	}
	s.store(k, fetched{data: map[string][]byte{"tls.crt": []byte("new")}, rv: "10"})
	if got := s.missing(m); len(got) != 0 {
		t.Errorf("after a current read: missing %v, want none", got)
	}
}

// TestPacer: changes that come within the minimum quiet time of the last rebuild wait for
// the quiet time, which doubles while rebuilds batch several of them; a lone change that
// finds the pipeline idle is rebuilt at once, and one change at a time never waits long.
func TestPacer(t *testing.T) {
	ms := time.Millisecond
	c := pacer{min: 20 * ms, max: 300 * ms}
	now := time.Unix(1000, 0)
	// rebuild sees a change at now, waits as told, rebuilds changes for 5 ms, and returns
	// the wait.
	rebuild := func(changes int) time.Duration {
		w := c.wait(now)
		now = now.Add(w + 5*ms)
		c.rebuilt(now, changes)
		return w
	}
	if w := rebuild(1); w != 0 {
		t.Fatalf("the first change waited %v", w)
	}
	var waits []time.Duration
	for range 6 { // a burst: the next change is seen 1 ms after each rebuild, more arrive
		now = now.Add(ms)
		waits = append(waits, rebuild(10))
	}
	want := []time.Duration{19 * ms, 39 * ms, 79 * ms, 159 * ms, 299 * ms, 299 * ms}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits during a burst %v, want %v", waits, want)
		}
	}
	now = now.Add(ms) // Secret data read in the background: no change of pace
	rebuild(0)
	if c.quiet != 300*ms {
		t.Fatalf("quiet %v after Secret data arrived during a burst, want it kept at %v", c.quiet, 300*ms)
	}
	now = now.Add(50 * ms) // within the grown quiet time, but the pipeline is idle
	if w := rebuild(1); w != 0 || c.quiet != 20*ms {
		t.Errorf("a change 50 ms after the last rebuild waited %v (quiet now %v), want at once and %v", w, c.quiet, 20*ms)
	}
	for range 5 { // one change at a time, each seen 5 ms after the previous was rebuilt
		now = now.Add(5 * ms)
		if w := rebuild(1); w > 20*ms {
			t.Fatalf("a lone change waited %v, want at most the minimum", w)
		}
	}
}
