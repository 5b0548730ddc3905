package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/controller/model"
)

// listSecretsAbove is how many Secrets of one namespace must be missing before a full
// build reads the whole namespace with one List rather than each Secret with a Get: after
// a start, a thousand TLS vhosts would be a thousand Gets.
const listSecretsAbove = 16

// fetchers bounds the Secret reads in flight at once. Each waits for a round trip to the
// API server, which is slowest exactly when many TLS roots are being created (the status
// writes of their trees queue there too); reads are served from the API server's watch
// cache (see readSecrets), so they cost it little.
const fetchers = 32

// retryFetchAfter is how long a failed Secret read waits before it is tried again.
const retryFetchAfter = time.Second

// fetched is the outcome of reading one Secret's data.
type fetched struct {
	data map[string][]byte // nil when the Secret was not found
	rv   string            // the resourceVersion read
	err  error
}

// secretData is the data of the Secrets the model references, which Warden reads from the
// API server since it watches only Secret metadata. It is owned by the run loop.
//
// A full build (start, resync) reads what it misses before it publishes, so that the
// first configuration is complete. An incremental rebuild does not wait: it publishes
// with the data it has and reads the rest in the background; the translator leaves a TLS
// vhost without its HTTPS filter chain until its certificate arrives, and the arrival
// triggers a rebuild. Waiting made every rebuild during a bulk create of TLS roots wait
// seconds for the API server, which was busy with the status writes of the same roots.
// When a Secret changes, its old data keeps being served until the new data is read, so
// that a certificate rotation never takes a vhost's HTTPS away.
type secretData struct {
	data  map[model.Key]map[string][]byte
	stale map[model.Key]bool // data known to be outdated: read again, serve meanwhile
	// inflight are the Secrets being read in the background; false once a change made
	// the read's result possibly older than the Secret.
	inflight map[model.Key]bool
	// latest is the resourceVersion of each Secret's latest metadata event: a read must
	// return that version or a newer one (see readSecrets), else it is read again.
	latest map[model.Key]string
	sem    chan struct{} // bounds reads in flight (fetchers)
}

func newSecretData() secretData {
	return secretData{data: map[model.Key]map[string][]byte{}, stale: map[model.Key]bool{},
		inflight: map[model.Key]bool{}, latest: map[model.Key]string{}, sem: make(chan struct{}, fetchers)}
}

// changed records an event of the Secret k.
func (s *secretData) changed(k model.Key, ev secretEvent) {
	if _, ok := s.inflight[k]; ok {
		s.inflight[k] = false
	}
	if !ev.exists {
		delete(s.data, k)
		delete(s.stale, k)
		delete(s.latest, k)
		return
	}
	s.latest[k] = ev.rv
	if _, ok := s.data[k]; ok {
		s.stale[k] = true
	}
}

// store keeps data read for k; it stays stale if the read returned an older version than
// the latest event announced (a cache that lagged).
func (s *secretData) store(k model.Key, r fetched) {
	s.data[k] = r.data
	if olderRV(r.rv, s.latest[k]) {
		s.stale[k] = true
	} else {
		delete(s.stale, k)
	}
}

// olderRV reports whether resourceVersion a is older than b. Resource versions are etcd
// revisions, compared as numbers; anything else is never older.
func olderRV(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

// arrived applies background reads; it reports whether any data changed.
func (s *secretData) arrived(results map[model.Key]fetched) bool {
	changed := false
	for k, r := range results {
		valid := s.inflight[k]
		delete(s.inflight, k)
		if !valid || r.err != nil {
			continue // read again at the next rebuild that misses it
		}
		s.store(k, r)
		changed = true
	}
	return changed
}

// missing returns the model's Secrets whose data is absent or stale and not being read.
func (s *secretData) missing(m *model.Model) []model.Key {
	var out []model.Key
	for _, sec := range m.Secrets {
		k := sec.Name
		if _, reading := s.inflight[k]; reading {
			continue
		}
		if _, have := s.data[k]; !have || s.stale[k] {
			out = append(out, k)
		}
	}
	return out
}

// fillSecrets hands the model the data of its Secrets, reading what is missing first for
// a full build and in the background otherwise (see secretData).
func (p *Pipeline) fillSecrets(ctx context.Context, full bool) error {
	need := p.secretData.missing(p.model)
	switch {
	case len(need) == 0:
	case full:
		results, err := p.readSecrets(ctx, p.secretData.versions(need), true)
		if err != nil {
			return err
		}
		for k, r := range results {
			p.secretData.store(k, r)
		}
	default:
		for _, k := range need {
			p.secretData.inflight[k] = true
		}
		go p.readInBackground(ctx, p.secretData.versions(need), p.reads.start())
	}
	for _, s := range p.model.Secrets {
		s.Data = p.secretData.data[s.Name]
	}
	return nil
}

// versions returns the latest resourceVersion of each of keys.
func (s *secretData) versions(keys []model.Key) map[model.Key]string {
	out := make(map[model.Key]string, len(keys))
	for _, k := range keys {
		out[k] = s.latest[k]
	}
	return out
}

// readInBackground reads keys and hands the results to the run loop; after a failure it
// wakes the loop again later, which reads what is still missing. It calls done at the end.
func (p *Pipeline) readInBackground(ctx context.Context, keys map[model.Key]string, done func()) {
	defer done()
	results, err := p.readSecrets(ctx, keys, false)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		results = map[model.Key]fetched{}
		for k := range keys {
			results[k] = fetched{err: err}
		}
		time.AfterFunc(retryFetchAfter, p.poke)
	}
	p.mu.Lock()
	for k, r := range results {
		p.work.fetched[k] = r
	}
	p.mu.Unlock()
	p.poke()
}

// readSecrets reads the data of keys (with the resourceVersion each must at least have):
// with one List per namespace where more than listSecretsAbove are missing, if lists are
// allowed, and one Get per Secret otherwise, at most fetchers at a time. A Secret that is
// not found has no data: its deletion event will come.
//
// Reads name a resourceVersion, so that the API server answers from its watch cache
// instead of reading etcd: a Get asks for at least the version of the Secret's latest
// event, a List for any version ("0"), and what turns out older than the latest event is
// read again (secretData.store).
func (p *Pipeline) readSecrets(ctx context.Context, keys map[model.Key]string, lists bool) (map[model.Key]fetched, error) {
	byNS := map[string][]model.Key{}
	for k := range keys {
		byNS[k.Namespace] = append(byNS[k.Namespace], k)
	}
	out := map[model.Key]fetched{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	read := func(f func() (map[model.Key]fetched, error)) {
		wg.Go(func() {
			select {
			case p.secretData.sem <- struct{}{}:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			defer func() { <-p.secretData.sem }()
			r, err := f()
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range r {
				out[k] = v
			}
		})
	}
	for ns, ks := range byNS {
		if lists && len(ks) > listSecretsAbove {
			read(func() (map[model.Key]fetched, error) { return p.listSecrets(ctx, ns, ks) })
			continue
		}
		for _, k := range ks {
			read(func() (map[model.Key]fetched, error) { return p.getSecret(ctx, k, keys[k]) })
		}
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return out, errors.Join(all...)
}

// listSecrets reads the Secrets of ns and returns the data of those in want.
func (p *Pipeline) listSecrets(ctx context.Context, ns string, want []model.Key) (map[model.Key]fetched, error) {
	var list corev1.SecretList
	cached := &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}}
	if err := p.secrets.List(ctx, &list, client.InNamespace(ns), cached); err != nil {
		return nil, fmt.Errorf("reading Secrets in %s: %w", ns, err)
	}
	out := make(map[model.Key]fetched, len(want))
	for _, k := range want {
		out[k] = fetched{}
	}
	for i := range list.Items {
		k := model.KeyOf(&list.Items[i])
		if _, ok := out[k]; ok {
			out[k] = fetched{data: list.Items[i].Data, rv: list.Items[i].ResourceVersion}
		}
	}
	return out, nil
}

// getSecret reads one Secret, at least at resourceVersion rv if rv is set.
func (p *Pipeline) getSecret(ctx context.Context, k model.Key, rv string) (map[model.Key]fetched, error) {
	var s corev1.Secret
	var opts []client.GetOption
	if rv != "" {
		opts = append(opts, &client.GetOptions{Raw: &metav1.GetOptions{ResourceVersion: rv}})
	}
	err := p.secrets.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, &s, opts...)
	switch {
	case apierrors.IsNotFound(err):
		return map[model.Key]fetched{k: {}}, nil
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s: %w", k, err)
	}
	return map[model.Key]fetched{k: {data: s.Data, rv: s.ResourceVersion}}, nil
}
