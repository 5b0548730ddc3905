package translate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/projectwarden/warden/controller/model"
)

// FuzzTranslateIncremental builds a small random world (as FuzzTranslate does), then
// changes it step by step as the controller would (proxies replaced, added and removed,
// endpoints refreshed, Secret data changed in place, Secrets deleted and created, the
// fallback certificate switched, everything rebuilt unchanged), and checks after each step
// that a Translator used all along returns exactly what a fresh Translate does.
func FuzzTranslateIncremental(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8},
		[]byte("tls vhosts with client validation, mirrors and upstream CAs, then changes"),
		{255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244, 243, 242, 241, 240, 239, 5, 5, 5, 5},
	} {
		f.Add(seed)
	}
	f.Fuzz(checkIncremental)
}

// TestTranslateIncrementalRandom runs FuzzTranslateIncremental's check on pseudo-random
// inputs (the same ones on every run), since go test runs only a fuzz test's seeds.
func TestTranslateIncrementalRandom(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 20
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range runs {
		data := make([]byte, 150+rng.IntN(450))
		for j := range data {
			data[j] = byte(rng.UintN(256))
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkIncremental(t, data) })
	}
}

// checkIncremental is FuzzTranslateIncremental's check of one input.
func checkIncremental(t *testing.T, data []byte) {
	b := &fuzzBytes{data: data}
	in, mopts, secretData := fuzzWorld(b)
	opts := fuzzOptions(b)
	w := newWorld(in, mopts, secretData)
	tr := NewTranslator(opts)
	translateBoth(t, tr, w.m, opts)
	var done []string
	for step := 0; step < 12 && b.i < len(b.data); step++ {
		done = append(done, fuzzEdit(b, w))
		w.fill()
		t.Run(strings.Join(done, ", then "), func(t *testing.T) { translateBoth(t, tr, w.m, opts) })
	}
}

// fuzzEdit changes w as the controller would, and says how.
func fuzzEdit(b *fuzzBytes, w *world) string {
	roots, children := proxiesNamed(w, "root"), proxiesNamed(w, "child")
	switch op := b.next() % 9; {
	case op == 0 && len(roots) > 0:
		k := roots[b.next()%len(roots)]
		w.setProxy(fuzzRoot(b, k.Name, len(children)))
		return k.Name + " replaced"
	case op == 1 && len(children) > 0:
		k := children[b.next()%len(children)]
		w.setProxy(fuzzChild(b, k.Name))
		return k.Name + " replaced"
	case op == 2 && len(roots) > 0:
		k := roots[b.next()%len(roots)]
		w.removeProxy(k)
		return k.Name + " removed"
	case op == 3:
		name := fmt.Sprintf("root%d", 10+b.next()%10)
		w.setProxy(fuzzRoot(b, name, len(children)))
		return name + " added"
	case op == 4:
		svc := w.in.Services[model.Key{Namespace: fuzzNS, Name: pick(b, "web", "grpc")}]
		k := model.KeyOf(svc)
		w.in.EndpointSlices[k] = []*discoveryv1.EndpointSlice{fuzzSlice(b, svc)}
		w.m.RefreshEndpoints(w.in, k)
		return "endpoints of " + k.Name + " refreshed"
	case op == 5:
		return fuzzSecretData(b, w)
	case op == 6:
		k := model.Key{Namespace: fuzzNS, Name: pick(b, "cert", "other-cert", "ca", "crl", "fallback")}
		if w.in.Secrets.Has(k) {
			w.in.Secrets.Delete(k)
		} else {
			w.in.Secrets.Insert(k)
		}
		w.rebuild(w.m.Index.SecretToFQDNs[k]...)
		return "Secret " + k.Name + " deleted or created"
	case op == 7:
		if w.opts.FallbackCertificate.IsZero() {
			w.opts.FallbackCertificate = model.Key{Namespace: fuzzNS, Name: "fallback"}
		} else {
			w.opts.FallbackCertificate = model.Key{}
		}
		w.rebuild(w.fqdns()...)
		return "fallback certificate switched"
	default:
		w.rebuild(w.fqdns()...)
		return "everything rebuilt"
	}
}

// fuzzSecretData changes a Secret's data in place: a key removed, emptied, replaced, or
// one of its bytes changed.
func fuzzSecretData(b *fuzzBytes, w *world) string {
	k := model.Key{Namespace: fuzzNS, Name: pick(b, "cert", "other-cert", "ca", "crl", "fallback")}
	key := pick(b, KeyCertificate, KeyPrivateKey, KeyCA, KeyCRL)
	d := w.data[k]
	if d == nil {
		d = map[string][]byte{}
		w.data[k] = d
	}
	switch b.next() % 4 {
	case 0:
		delete(d, key)
		return k.Name + " " + key + " removed"
	case 1:
		d[key] = []byte{}
		return k.Name + " " + key + " emptied"
	case 2:
		if len(d[key]) > 0 {
			d[key][0]++
			return k.Name + " " + key + " changed in place"
		}
	}
	d[key] = fmt.Appendf(nil, "%s %s %d", k.Name, key, b.next())
	return k.Name + " " + key + " replaced"
}

// proxiesNamed are the proxies of w whose name starts with prefix, sorted.
func proxiesNamed(w *world, prefix string) []model.Key {
	var out []model.Key
	for k := range w.in.Proxies {
		if strings.HasPrefix(k.Name, prefix) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, model.Key.Compare)
	return out
}

// TestTranslatorAfterError: a model the Translator cannot translate (a vhost, cluster or
// load assignment that breaks Envoy's rules, which model.Build never produces) fails
// every time it is translated, and the Translator is then as it was: the model put back,
// it returns exactly what it returned before, sharing every encoding, and goes on
// translating changes right.
func TestTranslatorAfterError(t *testing.T) {
	cases := map[string]func(m *model.Model) (undo func()){
		"invalid route": func(m *model.Model) func() {
			old := m.VirtualHosts[1]
			vh := *old
			vh.Routes = slices.Clone(old.Routes)
			r := *vh.Routes[0]
			r.Forward, r.HTTPSRedirect, r.DirectResponse = nil, false, &model.DirectResponse{Status: 99}
			vh.Routes[0] = &r
			m.VirtualHosts[1] = &vh
			return func() { m.VirtualHosts[1] = old }
		},
		"route without action": func(m *model.Model) func() {
			old := m.VirtualHosts[0]
			vh := *old
			vh.Routes = []*model.Route{{Owner: old.Root, PathMatch: model.PathMatch{Kind: model.PathPrefix, Value: "/"}}}
			m.VirtualHosts[0] = &vh
			return func() { m.VirtualHosts[0] = old }
		},
		"invalid cluster": func(m *model.Model) func() {
			old := m.Clusters[0]
			c := *old
			c.HealthCheck = &model.HealthCheck{}
			m.Clusters[0] = &c
			return func() { m.Clusters[0] = old }
		},
		"invalid load assignment": func(m *model.Model) func() {
			old := m.Endpoints[0]
			cla := *old
			cla.Endpoints = []model.Endpoint{{Address: "10.0.0.1", Port: 70000, Ready: true}}
			m.Endpoints[0] = &cla
			return func() { m.Endpoints[0] = old }
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			w := realisticWorld()
			tr := NewTranslator(Options{})
			before := translateBoth(t, tr, w.m, Options{})
			undo := breakIt(w.m)
			for range 2 {
				if r, err := tr.Translate(w.m); !errors.Is(err, ErrInvalid) || r != nil {
					t.Fatalf("Translate of the broken model = %v, %v; want no resources and ErrInvalid", r, err)
				}
			}
			undo()
			after := translateBoth(t, tr, w.m, Options{})
			for typ, encoded := range after.Encoded {
				for n, b := range encoded {
					if !sameBytes(before.Encoded[typ][n], b) {
						t.Errorf("%s %s encoded again", kindOf(typ), n)
					}
				}
			}
			// Later calls reuse the failed call's lists: they still translate right.
			for _, step := range translatorSteps()[1:6] {
				step.edit(w)
				w.fill()
				translateBoth(t, tr, w.m, Options{})
			}
		})
	}
}
