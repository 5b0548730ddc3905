package controller

import (
	"context"
	"fmt"

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

// fillSecrets reads the data of every Secret the model references that it has not read
// since the Secret last changed, and hands it to the model.
func (p *Pipeline) fillSecrets(ctx context.Context) error {
	missing := map[string][]model.Key{}
	for _, s := range p.model.Secrets {
		if _, ok := p.data[s.Name]; !ok {
			missing[s.Name.Namespace] = append(missing[s.Name.Namespace], s.Name)
		}
	}
	for ns, ks := range missing {
		var err error
		if len(ks) > listSecretsAbove {
			err = p.listSecrets(ctx, ns, ks)
		} else {
			err = p.getSecrets(ctx, ks)
		}
		if err != nil {
			return err
		}
	}
	for _, s := range p.model.Secrets {
		s.Data = p.data[s.Name]
	}
	return nil
}

// listSecrets reads the Secrets of ns and keeps the data of those in want. A wanted Secret
// that is not found is recorded without data: its deletion event will come.
func (p *Pipeline) listSecrets(ctx context.Context, ns string, want []model.Key) error {
	var list corev1.SecretList
	if err := p.secrets.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("reading Secrets in %s: %w", ns, err)
	}
	for _, k := range want {
		p.data[k] = nil
	}
	for i := range list.Items {
		k := model.KeyOf(&list.Items[i])
		if _, ok := p.data[k]; ok {
			p.data[k] = list.Items[i].Data
		}
	}
	return nil
}

// getSecrets reads the Secrets in want one by one.
func (p *Pipeline) getSecrets(ctx context.Context, want []model.Key) error {
	for _, k := range want {
		var s corev1.Secret
		err := p.secrets.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			p.data[k] = nil
		case err != nil:
			return fmt.Errorf("reading Secret %s: %w", k, err)
		default:
			p.data[k] = s.Data
		}
	}
	return nil
}
