package clienttest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/projectwarden/warden/internal/testpki"
)

// ServerName is the DNS name in the server certificate of Certs, as in Warden's chart.
const ServerName = "warden"

// Certs are PEM files of a test PKI: a CA, a server certificate for ServerName and
// 127.0.0.1, and a client certificate, all issued by the CA.
type Certs struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// WriteCerts creates a test PKI in a temporary directory removed at the end of the test.
func WriteCerts(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	ca, err := testpki.NewCA("xds-ca")
	if err != nil {
		t.Fatal(err)
	}
	c := Certs{
		CA:         filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"),
		ClientKey:  filepath.Join(dir, "client.key"),
	}
	writeFile(t, c.CA, ca.PEM)
	issue(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: ServerName},
		DNSNames:    []string{ServerName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, c.ServerCert, c.ServerKey)
	issue(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "envoy"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, c.ClientCert, c.ClientKey)
	return c
}

// ClientTLS returns the TLS configuration of a client that trusts the CA, presents the
// client certificate (unless withoutCert) and checks ServerName.
func (c Certs) ClientTLS(t testing.TB, withoutCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	config := &tls.Config{RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS13}
	if !withoutCert {
		pair, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config
}

// issue signs template with ca and writes the certificate and its new key.
func issue(t testing.TB, ca *testpki.CA, template *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	p, err := ca.Issue(template)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certFile, p.CertPEM)
	writeFile(t, keyFile, p.KeyPEM)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
