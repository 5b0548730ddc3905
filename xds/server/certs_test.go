package server

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/projectwarden/warden/internal/testpki"
)

// serverName is the DNS SAN of test server certificates, the name Envoy bootstraps check.
const serverName = "warden"

// testCA is a certificate authority generated for one test.
type testCA struct {
	ca  *testpki.CA
	pem []byte
}

// keyPair is a PEM certificate and key issued by a testCA.
type keyPair struct {
	cert, key []byte
}

// newCA returns a new self-signed CA named name.
func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca, err := testpki.NewCA(name)
	must(t, err)
	return &testCA{ca: ca, pem: ca.PEM}
}

// serverPair issues a server certificate for serverName and 127.0.0.1.
func (ca *testCA) serverPair(t *testing.T) keyPair {
	t.Helper()
	return ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: serverName},
		DNSNames:    []string{serverName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// clientPair issues an Envoy client certificate.
func (ca *testCA) clientPair(t *testing.T) keyPair {
	t.Helper()
	return ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "envoy"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// issue signs template (completed with a serial, validity and key usage) with ca.
func (ca *testCA) issue(t *testing.T, template *x509.Certificate) keyPair {
	t.Helper()
	p, err := ca.ca.Issue(template)
	must(t, err)
	return keyPair{cert: p.CertPEM, key: p.KeyPEM}
}

// tlsCertificate is p as a tls.Certificate.
func (p keyPair) tlsCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(p.cert, p.key)
	if err != nil {
		t.Fatalf("loading key pair: %v", err)
	}
	return c
}

// bundle concatenates the PEM of several CAs, as trust-manager does during a CA rotation.
func bundle(cas ...*testCA) []byte {
	var b []byte
	for _, ca := range cas {
		b = append(b, ca.pem...)
	}
	return b
}

// tlsDir is a directory holding ca.crt, tls.crt and tls.key, updated in one of the ways a
// Kubernetes volume or an operator replaces them.
type tlsDir struct {
	dir string
	// write replaces all three files at once.
	write func(t *testing.T, files map[string][]byte)
}

// Names of the files in a tlsDir, those of a cert-manager Secret.
const (
	caFile   = "ca.crt"
	certFile = "tls.crt"
	keyFile  = "tls.key"
)

// options returns server options reading d's files, polled every few milliseconds.
func (d tlsDir) options() Options {
	return Options{
		Address:        "127.0.0.1:0",
		CAFile:         filepath.Join(d.dir, caFile),
		CertFile:       filepath.Join(d.dir, certFile),
		KeyFile:        filepath.Join(d.dir, keyFile),
		ReloadInterval: 20 * time.Millisecond,
	}
}

// contents returns the files of a tlsDir: the CA bundle and a server key pair.
func contents(ca []byte, server keyPair) map[string][]byte {
	return map[string][]byte{caFile: ca, certFile: server.cert, keyFile: server.key}
}

// kubeletDir is a tlsDir updated like a Secret volume: each version of the files lives in a
// new timestamped directory, the "..data" symlink is swapped to it atomically, and the files
// are symlinks through "..data".
func kubeletDir(t *testing.T) tlsDir {
	dir := t.TempDir()
	version := 0
	return tlsDir{dir: dir, write: func(t *testing.T, files map[string][]byte) {
		t.Helper()
		version++
		data := filepath.Join(dir, fmt.Sprintf("..2026_01_01_00_00_%02d.%d", version, version))
		must(t, os.Mkdir(data, 0o755))
		for name, b := range files {
			must(t, os.WriteFile(filepath.Join(data, name), b, 0o600))
		}
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		must(t, os.Symlink(filepath.Base(data), filepath.Join(dir, "..data_tmp")))
		must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		for name := range files {
			link := filepath.Join(dir, name)
			if _, err := os.Lstat(link); os.IsNotExist(err) {
				must(t, os.Symlink(filepath.Join("..data", name), link))
			}
		}
		if old != "" {
			must(t, os.RemoveAll(filepath.Join(dir, old)))
		}
	}}
}

// renameDir is a tlsDir whose files are each replaced by an atomic rename of a new file.
func renameDir(t *testing.T) tlsDir {
	dir := t.TempDir()
	return tlsDir{dir: dir, write: func(t *testing.T, files map[string][]byte) {
		t.Helper()
		for _, name := range []string{caFile, certFile, keyFile} {
			tmp := filepath.Join(dir, "."+name+".tmp")
			must(t, os.WriteFile(tmp, files[name], 0o600))
			must(t, os.Rename(tmp, filepath.Join(dir, name)))
		}
	}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
