package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

func TestClientWithCertificateFromTheCAFetchesClusters(t *testing.T) {
	ca := newCA(t, "xds-ca")
	dir := kubeletDir(t)
	dir.write(t, contents(ca.pem, ca.serverPair(t)))
	s := start(t, testCache(t), dir.options())
	client := ca.clientPair(t)
	conn := dial(t, s, mtls(t, ca.pem, &client))

	cases := map[string]struct {
		fetch       func(context.Context, *grpc.ClientConn) (string, string, error)
		first, next string
	}{
		"state of the world ADS": {fetch: fetchSotW, first: "v1", next: "backend-v1"},
		"delta ADS":              {fetch: fetchDelta, first: "backend-v1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			first, next, err := tc.fetch(t.Context(), conn)
			if err != nil {
				t.Fatalf("fetching clusters: %v", err)
			}
			if first != tc.first {
				t.Errorf("got %q, want %q", first, tc.first)
			}
			if tc.next != "" && next != tc.next {
				t.Errorf("got cluster %q, want %q", next, tc.next)
			}
			if tc.next == "" && next == "" {
				t.Error("delta resource has no version")
			}
		})
	}
}

func TestRefusesClientsThatDoNotAuthenticate(t *testing.T) {
	ca := newCA(t, "xds-ca")
	other := newCA(t, "other-ca")
	dir := renameDir(t)
	dir.write(t, contents(ca.pem, ca.serverPair(t)))
	s := start(t, testCache(t), dir.options())
	good := ca.clientPair(t)
	foreign := other.clientPair(t)

	// In TLS 1.3 the client finishes its handshake before the server has checked the client
	// certificate, so the server's alert races with the client's first write: the client may
	// see the alert, or only the connection closing under it.
	closed := []string{"broken pipe", "connection reset by peer"}
	cases := map[string]struct {
		creds credentials.TransportCredentials
		// why lists the errors the client may see, one of which must be in its error.
		why []string
	}{
		"client without a certificate":              {mtls(t, ca.pem, nil), append(closed, "certificate required")},
		"client with a certificate from another CA": {mtls(t, ca.pem, &foreign), append(closed, "unknown certificate authority")},
		"client with another certificate's key":     {mismatched(t, ca.pem, good, foreign), append(closed, "error decrypting message")},
		"client in plaintext":                       {plaintext(), []string{"error reading server preface"}},
		"client offering TLS 1.2 only":              {tls12(t, ca.pem, good), []string{"protocol version not supported"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := fetchSotW(t.Context(), dial(t, s, tc.creds))
			if status.Code(err) != codes.Unavailable || !slices.ContainsFunc(tc.why, func(why string) bool {
				return strings.Contains(err.Error(), why)
			}) {
				t.Fatalf("got %v, want the connection refused (code Unavailable) with one of %q", err, tc.why)
			}
		})
	}
}

// tls12 returns credentials of an authenticated client that offers TLS 1.2 at most.
func tls12(t *testing.T, roots []byte, client keyPair) credentials.TransportCredentials {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	return credentials.NewTLS(&tls.Config{
		ServerName:   serverName,
		RootCAs:      pool,
		Certificates: []tls.Certificate{client.tlsCertificate(t)},
		MaxVersion:   tls.VersionTLS12,
	})
}

// mismatched returns credentials presenting good's certificate with another key.
func mismatched(t *testing.T, roots []byte, good, other keyPair) credentials.TransportCredentials {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	pair := good.tlsCertificate(t)
	pair.PrivateKey = other.tlsCertificate(t).PrivateKey
	return credentials.NewTLS(&tls.Config{ServerName: serverName, RootCAs: pool, Certificates: []tls.Certificate{pair}})
}

func TestInsecureServesPlaintextClients(t *testing.T) {
	s := start(t, testCache(t), Options{Address: "127.0.0.1:0", Insecure: true})
	conn := dial(t, s, plaintext())
	version, cluster, err := fetchSotW(t.Context(), conn)
	if err != nil {
		t.Fatalf("fetching clusters: %v", err)
	}
	if version != "v1" || cluster != "backend-v1" {
		t.Errorf("got version %q cluster %q, want v1 backend-v1", version, cluster)
	}
}

func TestRunEndsStreamsAndReturnsWhenItsContextIsDone(t *testing.T) {
	s, err := New(testCache(t), nil, Options{Address: "127.0.0.1:0", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	stream, err := openSotW(t.Context(), dial(t, s, plaintext()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := stream.next(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return with a stream open")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Run took %s to stop: the open stream held the graceful stop", elapsed)
	}
	if _, err := stream.stream.Recv(); err == nil {
		t.Error("the stream is still open after Run returned")
	}
	if err := s.Run(t.Context()); !errors.Is(err, ErrAlreadyRun) {
		t.Errorf("second Run: got %v, want ErrAlreadyRun", err)
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	ca := newCA(t, "xds-ca")
	server := ca.serverPair(t)
	other := ca.serverPair(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		must(t, os.WriteFile(path, b, 0o600))
		return path
	}
	caPath, certPath, keyPath := write("ca.crt", ca.pem), write("tls.crt", server.cert), write("tls.key", server.key)
	otherKey := write("other.key", other.key)
	notPEM := write("garbage", []byte("not PEM"))
	keyAsCA := write("key-as-ca", server.key)

	cases := map[string]struct {
		o    Options
		want string
	}{
		"no TLS files and not insecure": {Options{}, "TLS needs all of the CA file"},
		"only some TLS files":           {Options{CertFile: certPath, KeyFile: keyPath}, "TLS needs all of the CA file"},
		"insecure with TLS files":       {Options{Insecure: true, CAFile: caPath}, "mutually exclusive"},
		"negative duration":             {Options{Insecure: true, MaxConnectionAge: -time.Second}, "maximum connection age -1s is negative"},
		"missing CA file":               {Options{CAFile: caPath + ".missing", CertFile: certPath, KeyFile: keyPath}, "reading client CA bundle"},
		"CA file without certificates":  {Options{CAFile: notPEM, CertFile: certPath, KeyFile: keyPath}, "no PEM certificate found"},
		"CA file holding a key":         {Options{CAFile: keyAsCA, CertFile: certPath, KeyFile: keyPath}, "not a CERTIFICATE"},
		"key of another certificate":    {Options{CAFile: caPath, CertFile: certPath, KeyFile: otherKey}, "private key does not match public key"},
		"address that cannot be bound":  {Options{Insecure: true, Address: "127.0.0.1:-1"}, "listening for xDS"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := New(testCache(t), nil, tc.o)
			if err == nil {
				_ = s.listener.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil, nil, Options{Insecure: true}); err == nil {
		t.Error("New accepted a nil cache")
	}
}

// TestServesPerTypeDiscoveryServices opens a stream on each per-type service, which an
// Envoy with per-type gRPC config sources (Contour's bootstrap) uses instead of ADS.
func TestServesPerTypeDiscoveryServices(t *testing.T) {
	s := start(t, testCache(t), Options{Address: "127.0.0.1:0", Insecure: true})
	conn := dial(t, s, plaintext())
	cases := map[string]struct {
		open    func(context.Context, grpc.ClientConnInterface) (grpc.ClientStream, error)
		typeURL string
	}{
		"CDS": {func(ctx context.Context, c grpc.ClientConnInterface) (grpc.ClientStream, error) {
			return clusterservice.NewClusterDiscoveryServiceClient(c).StreamClusters(ctx)
		}, resource.ClusterType},
		"EDS": {func(ctx context.Context, c grpc.ClientConnInterface) (grpc.ClientStream, error) {
			return endpointservice.NewEndpointDiscoveryServiceClient(c).StreamEndpoints(ctx)
		}, resource.EndpointType},
		"LDS": {func(ctx context.Context, c grpc.ClientConnInterface) (grpc.ClientStream, error) {
			return listenerservice.NewListenerDiscoveryServiceClient(c).StreamListeners(ctx)
		}, resource.ListenerType},
		"RDS": {func(ctx context.Context, c grpc.ClientConnInterface) (grpc.ClientStream, error) {
			return routeservice.NewRouteDiscoveryServiceClient(c).StreamRoutes(ctx)
		}, resource.RouteType},
		"SDS": {func(ctx context.Context, c grpc.ClientConnInterface) (grpc.ClientStream, error) {
			return secretservice.NewSecretDiscoveryServiceClient(c).StreamSecrets(ctx)
		}, resource.SecretType},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			stream, err := tc.open(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeID}, TypeUrl: tc.typeURL, ResourceNames: []string{"backend-v1"}}
			if err := stream.SendMsg(req); err != nil {
				t.Fatal(err)
			}
			var resp discoveryv3.DiscoveryResponse
			err = stream.RecvMsg(&resp)
			switch {
			case status.Code(err) == codes.Unimplemented:
				t.Fatalf("%s is not served: %v", name, err)
			case tc.typeURL == resource.ClusterType && (err != nil || len(resp.GetResources()) != 1):
				t.Fatalf("CDS: got %v (error %v), want the cluster", &resp, err)
			case tc.typeURL != resource.ClusterType && status.Code(err) != codes.DeadlineExceeded:
				// The snapshot has nothing of this type: the server holds the request.
				t.Fatalf("got %v (error %v), want the request held", &resp, err)
			}
		})
	}
}

func TestOldConnectionsAreClosedAfterTheMaximumConnectionAge(t *testing.T) {
	o := Options{Address: "127.0.0.1:0", Insecure: true, MaxConnectionAge: 200 * time.Millisecond, MaxConnectionAgeGrace: 200 * time.Millisecond}
	s := start(t, testCache(t), o)
	stream, err := openSotW(t.Context(), dial(t, s, plaintext()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := stream.next(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := stream.stream.Recv()
		ended <- err
	}()
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unavailable {
			t.Errorf("stream ended with %v, want code Unavailable (connection closed)", err)
		}
		if elapsed := time.Since(start); elapsed < o.MaxConnectionAge/2 {
			t.Errorf("stream ended after %s, before the maximum age", elapsed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the maximum connection age and its grace")
	}
}
