package translate

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/projectwarden/warden/controller/model"
)

// The keys of a Kubernetes TLS Secret (and of a CA bundle Secret) that Envoy needs.
const (
	KeyCertificate = "tls.crt"
	KeyPrivateKey  = "tls.key"
	KeyCA          = "ca.crt"
	KeyCRL         = "ca.crl"
)

// secretName is the SDS name of a certificate: the Secret's namespace/name. Unlike
// Contour, no content hash is appended: the resource's content hash (Resources.Hashes)
// is its version, so a rotated certificate is the same SDS resource with a new version,
// which Envoy applies to the filter chains that use it without touching the listener.
func secretName(k model.Key) string { return k.String() }

// missingKeys lists the keys that the Secret s (nil: absent) lacks or has empty.
func missingKeys(s *model.Secret, keys ...string) []string {
	var out []string
	for _, key := range keys {
		if s == nil || len(s.Data[key]) == 0 {
			out = append(out, key)
		}
	}
	return out
}

// leaveOut leaves out the cluster c, whose upstream CA (the Secret ca) has no data.
// Serving it without validation would be insecure, and Envoy cannot validate without a
// CA: the route drops the cluster (and answers 503 if no cluster is left), as the model
// does for an unresolved backend. Every call decides anew, since Secret data changes in
// place (see generation.buildClusters).
func (t *translator) leaveOut(c *model.Cluster, ca model.Key) {
	t.dropped[c.Name] = true
	t.missing.addf("%s: %s missing: cluster %s not served (its routes answer 503 when no other cluster is left)",
		ca, KeyCA, c.Name)
}

// checkVirtualHostSecrets decides which TLS vhosts get an HTTPS filter chain.
//
// A vhost whose certificate, client CA or CRL has no data gets none. Envoy would accept a
// filter chain naming an SDS secret that is never served, but the whole listener would
// then stay warming (not serving, for every vhost) until the secret arrived; and a chain
// without its client validation would accept clients it must refuse. The vhost stays on
// ingress_http: its permitInsecure routes keep working and its other routes keep
// redirecting to HTTPS, which fails the TLS handshake (no chain matches its SNI) until the
// data arrives. Contour, which never sees such a Secret (it drops invalid ones), would not
// serve the vhost at all.
func (t *translator) checkVirtualHostSecrets() {
	fallbackOK := map[model.Key]bool{}
	for _, vh := range t.m.VirtualHosts {
		tls := vh.TLS
		if tls == nil {
			continue
		}
		cert, ok := t.servable(vh)
		if !ok {
			continue
		}
		t.secure = append(t.secure, vh)
		t.certs[cert] = true

		fb := tls.FallbackCertificate
		if fb.IsZero() {
			continue
		}
		ok, seen := fallbackOK[fb]
		if !seen {
			miss := missingKeys(t.secretByKey[fb], KeyCertificate, KeyPrivateKey)
			ok = len(miss) == 0
			fallbackOK[fb] = ok
			if !ok {
				t.missing.addf("%s: %s missing: the fallback certificate is not served", fb, joinKeys(miss))
			}
		}
		if ok {
			// The model has one fallback certificate (its Options.FallbackCertificate).
			t.fallback[vh.FQDN] = true
			t.fallbackCert = fb
			t.certs[t.secretByKey[fb]] = true
		}
	}
	slices.SortFunc(t.secure, func(a, b *model.VirtualHost) int { return strings.Compare(a.FQDN, b.FQDN) })
}

// servable reports whether vh's TLS secrets all have data, noting what is missing, and
// returns its certificate.
func (t *translator) servable(vh *model.VirtualHost) (*model.Secret, bool) {
	ok := true
	need := func(k model.Key, why string, keys ...string) *model.Secret {
		s := t.secretByKey[k]
		if miss := missingKeys(s, keys...); len(miss) > 0 {
			ok = false
			t.missing.addf("%s: %s missing: HTTPS not served for %s%s", k, joinKeys(miss), vh.FQDN, why)
		}
		return s
	}
	cert := need(vh.TLS.SecretRef, "", KeyCertificate, KeyPrivateKey)
	if cv := vh.TLS.ClientValidation; cv != nil {
		if !cv.CASecret.IsZero() {
			need(cv.CASecret, " (client certificate validation)", KeyCA)
		}
		if !cv.CRLSecret.IsZero() {
			need(cv.CRLSecret, " (client certificate revocation list)", KeyCRL)
		}
	}
	return cert, ok
}

// secret is the SDS secret of a certificate the served filter chains use
// (translator.certs): its chain and private key, inline. CA bundles and CRLs are inlined in
// the TLS contexts that use them, as in Contour (see the package documentation), so they
// are not SDS secrets.
func (t *translator) secret(k model.Key) *tlsv3.Secret {
	d := t.secretByKey[k].Data
	return &tlsv3.Secret{
		Name: secretName(k),
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(d[KeyCertificate]),
			PrivateKey:       inlineBytes(d[KeyPrivateKey]),
		}},
	}
}

// inlineBytes copies b, so that the resources never share memory with the model.
func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: slices.Clone(b)}}
}
