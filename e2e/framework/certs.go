package framework

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/projectwarden/warden/internal/testpki"
)

// CA is a throwaway certificate authority for serving certificates in tests and `make run`.
type CA struct {
	ca *testpki.CA
	// PEM is the CA certificate, for webhook caBundles and clients.
	PEM []byte
}

// NewCA creates a CA named cn, valid for a day.
func NewCA(cn string) (*CA, error) {
	ca, err := testpki.NewCA(cn)
	if err != nil {
		return nil, err
	}
	return &CA{ca: ca, PEM: ca.PEM}, nil
}

// Issue returns a serving certificate and key (PEM) for localhost and 127.0.0.1.
func (ca *CA) Issue() (certPEM, keyPEM []byte, err error) {
	p, err := ca.ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "warden"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return p.CertPEM, p.KeyPEM, err
}

// WriteServing issues a serving certificate into dir/tls.crt and dir/tls.key, replacing
// existing files atomically (write, then rename), as a rotated Secret would.
func (ca *CA) WriteServing(dir string) error {
	c, k, err := ca.Issue()
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"tls.key": k, "tls.crt": c} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("replacing %s: %w", name, err)
		}
	}
	return nil
}
