package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/projectwarden/warden/internal/testpki"
)

// TestIssuedCertificateVerifiesAgainstItsCA issues a server certificate: it chains to its
// CA only, and its PEM pair loads as a TLS certificate.
func TestIssuedCertificateVerifiesAgainstItsCA(t *testing.T) {
	ca, err := testpki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: "server"}, DNSNames: []string{"server"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "server"}); err != nil {
		t.Errorf("does not verify against its CA: %v", err)
	}
	if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "server"}); err == nil {
		t.Error("verifies against another CA")
	}
	if _, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		t.Errorf("PEM pair does not load: %v", err)
	}
}
