package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/controller/model"
)

// listSecretsAbove is how many Secrets of one namespace must be missing before fillSecrets
// reads the whole namespace with one List rather than each Secret with a Get: after a
// start, a thousand TLS vhosts would be a thousand Gets; during a bulk create of roots,
// each rebuild misses a few Secrets of a namespace that holds hundreds, and listing them
// all every time would load the API server for nothing.
const listSecretsAbove = 16

// fetchers bounds the Secret reads of one rebuild that are in flight at once. Reads are
// concurrent because each waits for a round trip to the API server, which is slowest
// exactly when many TLS roots are being created (the status writes of their trees queue
// at the API server too); one after the other, a rebuild of a dozen new TLS vhosts waited
// seconds.
const fetchers = 8

// fillSecrets reads the data of every Secret the model references that it has not read
// since the Secret last changed, and hands it to the model.
func (p *Pipeline) fillSecrets(ctx context.Context) error {
	missing := map[string][]model.Key{}
	for _, s := range p.model.Secrets {
		if _, ok := p.data[s.Name]; !ok {
			missing[s.Name.Namespace] = append(missing[s.Name.Namespace], s.Name)
		}
	}
	// One read per namespace with many missing Secrets, one per Secret otherwise.
	var reads []func(context.Context) (map[model.Key]map[string][]byte, error)
	for ns, ks := range missing {
		if len(ks) > listSecretsAbove {
			reads = append(reads, func(ctx context.Context) (map[model.Key]map[string][]byte, error) {
				return p.listSecrets(ctx, ns, ks)
			})
			continue
		}
		for _, k := range ks {
			reads = append(reads, func(ctx context.Context) (map[model.Key]map[string][]byte, error) {
				return p.getSecret(ctx, k)
			})
		}
	}
	results, err := runConcurrently(ctx, fetchers, reads)
	if err != nil {
		return err
	}
	for _, r := range results {
		maps.Copy(p.data, r)
	}
	for _, s := range p.model.Secrets {
		s.Data = p.data[s.Name]
	}
	return nil
}

// runConcurrently runs fs, at most n at a time, and returns their results; it stops
// starting new ones after the first error, which it returns.
func runConcurrently[T any](ctx context.Context, n int, fs []func(context.Context) (T, error)) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]T, len(fs))
	errs := make([]error, len(fs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, f := range fs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if out[i], errs[i] = f(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

// listSecrets reads the Secrets of ns and returns the data of those in want. A wanted
// Secret that is not found is returned without data: its deletion event will come.
func (p *Pipeline) listSecrets(ctx context.Context, ns string, want []model.Key) (map[model.Key]map[string][]byte, error) {
	var list corev1.SecretList
	if err := p.secrets.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("reading Secrets in %s: %w", ns, err)
	}
	out := make(map[model.Key]map[string][]byte, len(want))
	for _, k := range want {
		out[k] = nil
	}
	for i := range list.Items {
		k := model.KeyOf(&list.Items[i])
		if _, ok := out[k]; ok {
			out[k] = list.Items[i].Data
		}
	}
	return out, nil
}

// getSecret reads one Secret.
func (p *Pipeline) getSecret(ctx context.Context, k model.Key) (map[model.Key]map[string][]byte, error) {
	var s corev1.Secret
	err := p.secrets.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return map[model.Key]map[string][]byte{k: nil}, nil
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s: %w", k, err)
	}
	return map[model.Key]map[string][]byte{k: s.Data}, nil
}
