package server_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/projectwarden/warden/internal/testpki"
)

// testCA is a throw-away certificate authority for TLS tests.
type testCA struct {
	cert *x509.Certificate
	ca   *testpki.CA
}

// servingCert is a leaf certificate and its key, parsed and PEM-encoded.
type servingCert struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

// newTestCA creates a self-signed CA named commonName.
func newTestCA(t *testing.T, commonName string) *testCA {
	t.Helper()
	ca, err := testpki.NewCA(commonName)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: ca.Cert, ca: ca}
}

// pool returns a certificate pool trusting only ca.
func (ca *testCA) pool() *x509.CertPool { return ca.ca.Pool() }

// issueServing issues a server certificate for IP 127.0.0.1 and DNS localhost.
func (ca *testCA) issueServing(t *testing.T) servingCert {
	t.Helper()
	p, err := ca.ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "warden-webhook"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return servingCert{cert: p.Cert, certPEM: p.CertPEM, keyPEM: p.KeyPEM}
}

// certFiles is where a test keeps a serving certificate and key, and how it rotates them.
type certFiles struct {
	certFile, keyFile string
	// rotate replaces the pair on disk the way the layout's real-world writer does.
	rotate func(t *testing.T, sc servingCert)
}

// plainFiles writes sc to tls.crt and tls.key in dir. Rotation writes each new file beside
// the old one and renames it over it, as most certificate writers do; between the two
// renames the files on disk briefly hold a new certificate and the old key.
func plainFiles(t *testing.T, dir string, sc servingCert) certFiles {
	t.Helper()
	cf := certFiles{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	writeFile(t, cf.certFile, sc.certPEM)
	writeFile(t, cf.keyFile, sc.keyPEM)
	cf.rotate = func(t *testing.T, sc servingCert) {
		t.Helper()
		renameOver(t, cf.certFile, sc.certPEM)
		renameOver(t, cf.keyFile, sc.keyPEM)
	}
	return cf
}

// kubeletFiles lays sc out as the kubelet does for a mounted Secret (its AtomicWriter):
//
//	dir/tls.crt -> ..data/tls.crt
//	dir/tls.key -> ..data/tls.key
//	dir/..data  -> ..2026_01_02_03_04_05.123456789
//	dir/..2026_01_02_03_04_05.123456789/{tls.crt,tls.key}
//
// Rotation writes a new timestamped directory, points a "..data_tmp" symlink at it, renames
// that over "..data" (swapping both files in one step), then removes the old directory.
func kubeletFiles(t *testing.T, dir string, sc servingCert) certFiles {
	t.Helper()
	return symlinkedFiles(t, dir, sc, removeOldData)
}

// symlinkSwapKeepingOld is kubeletFiles' layout and swap, except that rotation leaves the
// old directory in place, as some writers do. The swap then changes no file the server
// watches: only re-reading the paths notices it.
func symlinkSwapKeepingOld(t *testing.T, dir string, sc servingCert) certFiles {
	t.Helper()
	return symlinkedFiles(t, dir, sc, keepOldData)
}

// oldData says what a symlink swap does with the directory it swapped away from.
type oldData int

const (
	removeOldData oldData = iota
	keepOldData
)

// symlinkedFiles implements kubeletFiles and symlinkSwapKeepingOld.
func symlinkedFiles(t *testing.T, dir string, sc servingCert, old oldData) certFiles {
	t.Helper()
	current := writeDataDir(t, dir, sc)
	symlink(t, current, filepath.Join(dir, "..data"))
	for _, name := range []string{"tls.crt", "tls.key"} {
		symlink(t, filepath.Join("..data", name), filepath.Join(dir, name))
	}
	cf := certFiles{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	cf.rotate = func(t *testing.T, sc servingCert) {
		t.Helper()
		next := writeDataDir(t, dir, sc)
		tmp := filepath.Join(dir, "..data_tmp")
		symlink(t, next, tmp)
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatalf("swapping ..data: %v", err)
		}
		if old == removeOldData {
			if err := os.RemoveAll(filepath.Join(dir, current)); err != nil {
				t.Fatalf("removing old data directory: %v", err)
			}
		}
		current = next
	}
	return cf
}

// writeDataDir writes sc into a new kubelet-style timestamped directory in dir and returns
// its name, relative to dir.
func writeDataDir(t *testing.T, dir string, sc servingCert) string {
	t.Helper()
	data, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		t.Fatalf("creating data directory: %v", err)
	}
	writeFile(t, filepath.Join(data, "tls.crt"), sc.certPEM)
	writeFile(t, filepath.Join(data, "tls.key"), sc.keyPEM)
	return filepath.Base(data)
}

// renameOver replaces path with content atomically: write a sibling, then rename it over.
func renameOver(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("renaming %s over %s: %v", tmp, path, err)
	}
}

// writeFile writes content to path, readable only by its owner as a key file should be.
func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// symlink creates link pointing at target.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatalf("linking %s to %s: %v", link, target, err)
	}
}
