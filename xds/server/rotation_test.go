package server

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"google.golang.org/grpc/credentials"
)

// TestRotationReachesNewConnectionsWithoutBreakingOpenStreams rotates the server certificate
// and the CA, the way cert-manager and trust-manager do, while an ADS stream is open:
//
//  1. the CA file becomes a bundle of CA1 and CA2 (overlap);
//  2. the server certificate is re-issued by CA2;
//  3. CA1 is retired from the bundle.
//
// After each step new connections see the new material, and the stream opened at the start
// still receives every new snapshot.
func TestRotationReachesNewConnectionsWithoutBreakingOpenStreams(t *testing.T) {
	cases := map[string]func(*testing.T) tlsDir{
		"kubelet ..data symlink swap": kubeletDir,
		"atomic rename of each file":  renameDir,
	}
	for name, newDir := range cases {
		t.Run(name, func(t *testing.T) {
			ca1, ca2 := newCA(t, "xds-ca-1"), newCA(t, "xds-ca-2")
			client1, client2 := ca1.clientPair(t), ca2.clientPair(t)
			dir := newDir(t)
			dir.write(t, contents(ca1.pem, ca1.serverPair(t)))
			c := testCache(t)
			s := start(t, c, dir.options())

			old, err := openSotW(t.Context(), dial(t, s, mtls(t, ca1.pem, &client1)))
			if err != nil {
				t.Fatal(err)
			}
			receives(t, old, "v1")

			// 1. Overlap: Envoys with certificates from CA2 are accepted, from CA1 still are.
			dir.write(t, contents(bundle(ca1, ca2), ca1.serverPair(t)))
			eventually(t, "client with a CA2 certificate", connects(t, s, mtls(t, ca1.pem, &client2)))
			if err := connects(t, s, mtls(t, ca1.pem, &client1))(); err != nil {
				t.Errorf("client with a CA1 certificate during the overlap: %v", err)
			}

			// 2. The server certificate is re-issued by CA2.
			dir.write(t, contents(bundle(ca1, ca2), ca2.serverPair(t)))
			eventually(t, "client trusting CA2 only", connects(t, s, mtls(t, ca2.pem, &client2)))
			if err := connects(t, s, mtls(t, bundle(ca1, ca2), &client1))(); err != nil {
				t.Errorf("client with a CA1 certificate during the overlap: %v", err)
			}
			setSnapshot(t, c, "v2")
			receives(t, old, "v2")

			// 3. CA1 is retired: new connections with CA1 certificates are refused, the
			// stream established with one goes on.
			dir.write(t, contents(ca2.pem, ca2.serverPair(t)))
			eventually(t, "client with a CA1 certificate refused", func() error {
				if connects(t, s, mtls(t, bundle(ca1, ca2), &client1))() == nil {
					return errors.New("still accepted")
				}
				return nil
			})
			setSnapshot(t, c, "v3")
			receives(t, old, "v3")
		})
	}
}

// receives checks that stream receives the snapshot of the given version next.
func receives(t *testing.T, stream *sotwStream, version string) {
	t.Helper()
	got, cluster, err := stream.next()
	if err != nil {
		t.Fatalf("open stream, waiting for %s: %v", version, err)
	}
	if got != version || cluster != "backend-"+version {
		t.Fatalf("open stream received version %q cluster %q, want %q", got, cluster, version)
	}
}

// connects returns a function that fetches clusters over a new connection with creds.
func connects(t *testing.T, s *Server, creds credentials.TransportCredentials) func() error {
	return func() error {
		conn := dial(t, s, creds)
		defer func() { _ = conn.Close() }()
		_, _, err := fetchSotW(t.Context(), conn)
		return err
	}
}

func TestBrokenRotationKeepsThePreviousCertificatesAndIsReportedOnce(t *testing.T) {
	ca1, ca2 := newCA(t, "xds-ca-1"), newCA(t, "xds-ca-2")
	client := ca1.clientPair(t)
	dir := kubeletDir(t)
	dir.write(t, contents(bundle(ca1, ca2), ca1.serverPair(t)))
	logs := &capture{}
	s := startLogging(logr.NewContext(t.Context(), logs.logger()), t, testCache(t), dir.options())

	// A certificate with the key of another: the pair does not load.
	good, other := ca2.serverPair(t), ca2.serverPair(t)
	dir.write(t, contents(bundle(ca1, ca2), keyPair{cert: good.cert, key: other.key}))
	eventually(t, "the broken rotation is logged", func() error {
		if logs.count("cannot be loaded") == 0 {
			return errors.New("not logged yet")
		}
		return nil
	})
	time.Sleep(10 * dir.options().ReloadInterval)
	if n := logs.count("cannot be loaded"); n != 1 {
		t.Errorf("the broken rotation was logged %d times, want once", n)
	}
	if err := connects(t, s, mtls(t, ca1.pem, &client))(); err != nil {
		t.Errorf("client trusting the previous server certificate: %v", err)
	}

	// The rotation completes: the new certificate is served.
	dir.write(t, contents(bundle(ca1, ca2), good))
	eventually(t, "client trusting CA2 only", connects(t, s, mtls(t, ca2.pem, &client)))
	if n := logs.count("new connections use the new certificates"); n != 1 {
		t.Errorf("the completed rotation was logged %d times, want once", n)
	}
}

// capture records log lines.
type capture struct {
	mu    sync.Mutex
	lines []string
}

// logger returns a logger writing into c.
func (c *capture) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lines = append(c.lines, fmt.Sprint(prefix, args))
	}, funcr.Options{Verbosity: 4})
}

// count returns the number of lines containing s.
func (c *capture) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
