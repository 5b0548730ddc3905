// Package testpki issues throwaway certificates: a CA and the leaf certificates it signs, for
// tests and for `make run`'s local control plane. P-256 keys (fast to generate, accepted
// everywhere) and random serial numbers; nothing here is fit for production use.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Validity is how long certificates are valid from now when their template says nothing;
// they are valid from an hour ago, so that clock skew between processes does not matter.
const Validity = 24 * time.Hour

// CA is a throwaway certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is the CA certificate, PEM-encoded: for trust bundles and webhook caBundles.
	PEM []byte
}

// Pair is a certificate issued by a CA and its key.
type Pair struct {
	Cert *x509.Certificate
	// CertPEM and KeyPEM are the certificate and its PKCS #8 key, PEM-encoded.
	CertPEM, KeyPEM []byte
}

// NewCA creates a self-signed CA named commonName.
func NewCA(commonName string) (*CA, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if err := complete(template); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA %s: %w", commonName, err)
	}
	return &CA{Cert: cert, Key: key, PEM: encode("CERTIFICATE", der)}, nil
}

// Issue signs template with a new key. A zero serial number, validity or key usage is
// filled in (random; Validity; digital signature).
func (ca *CA) Issue(template *x509.Certificate) (Pair, error) {
	key, err := NewKey()
	if err != nil {
		return Pair{}, err
	}
	if err := complete(template); err != nil {
		return Pair{}, err
	}
	if template.KeyUsage == 0 {
		template.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("issuing %s: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("parsing %s: %w", template.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("encoding the key of %s: %w", template.Subject.CommonName, err)
	}
	return Pair{Cert: cert, CertPEM: encode("CERTIFICATE", der), KeyPEM: encode("PRIVATE KEY", keyDER)}, nil
}

// Pool returns a certificate pool that trusts only ca.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// NewKey returns a new P-256 key.
func NewKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	return key, nil
}

// complete fills a template's zero serial number and validity.
func complete(template *x509.Certificate) error {
	if template.SerialNumber == nil {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
		if err != nil {
			return fmt.Errorf("generating a serial number: %w", err)
		}
		template.SerialNumber = n
	}
	if template.NotBefore.IsZero() {
		template.NotBefore = time.Now().Add(-time.Hour)
	}
	if template.NotAfter.IsZero() {
		template.NotAfter = time.Now().Add(Validity)
	}
	return nil
}

func encode(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}
