package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// nodeID is the Envoy node of test clients; snapshots are set for it (cache.IDHash).
const nodeID = "envoy-1"

// testCache returns an ADS snapshot cache holding a snapshot of version "v1" for nodeID.
func testCache(t *testing.T) cachev3.SnapshotCache {
	t.Helper()
	c := cachev3.NewSnapshotCache(ADS, cachev3.IDHash{}, NewLogger(testr.New(t)))
	setSnapshot(t, c, "v1")
	return c
}

// setSnapshot sets, for nodeID, a snapshot of the given version holding one cluster named
// after the version, which passes ValidateAll.
func setSnapshot(t *testing.T, c cachev3.SnapshotCache, version string) {
	t.Helper()
	cluster := &clusterv3.Cluster{
		Name:                 "backend-" + version,
		ConnectTimeout:       durationpb.New(time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: "backend-" + version,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
							Address:       "127.0.0.1",
							PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
						}}},
					}},
				}},
			}},
		},
	}
	if err := cluster.ValidateAll(); err != nil {
		t.Fatalf("test cluster is invalid: %v", err)
	}
	snapshot, err := cachev3.NewSnapshot(version, map[resource.Type][]types.Resource{resource.ClusterType: {cluster}})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Consistent(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSnapshot(t.Context(), nodeID, snapshot); err != nil {
		t.Fatal(err)
	}
}

// testContext is t.Context carrying a test logger.
func testContext(t *testing.T) context.Context {
	return logr.NewContext(t.Context(), testr.New(t))
}

// start creates a server for c with o and runs it until the end of the test, when it checks
// that Run returned nil promptly.
func start(t *testing.T, c cachev3.Cache, o Options) *Server {
	t.Helper()
	return startLogging(testContext(t), t, c, o)
}

// startLogging is start with the logger of ctx.
func startLogging(ctx context.Context, t *testing.T, c cachev3.Cache, o Options) *Server {
	t.Helper()
	s, err := New(c, nil, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after its context was cancelled")
		}
	})
	return s
}

// mtls returns client credentials presenting client and trusting roots.
func mtls(t *testing.T, roots []byte, client *keyPair) credentials.TransportCredentials {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(roots) {
		t.Fatal("no root certificate")
	}
	config := &tls.Config{ServerName: serverName, RootCAs: pool, MinVersion: tls.VersionTLS13}
	if client != nil {
		// Like Envoy, present the certificate whatever CAs the server says it accepts (Go's
		// default would send none when the certificate's issuer is not among them).
		cert := client.tlsCertificate(t)
		config.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	return credentials.NewTLS(config)
}

// plaintext is the credentials of a client without TLS.
func plaintext() credentials.TransportCredentials {
	return insecure.NewCredentials()
}

// dial returns a client connection to s, closed at the end of the test.
func dial(t *testing.T, s *Server, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// sotwStream is a state-of-the-world ADS stream subscribed to clusters, as Envoy opens it.
type sotwStream struct {
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

// openSotW opens an ADS stream on conn and subscribes to every cluster.
func openSotW(ctx context.Context, conn *grpc.ClientConn) (*sotwStream, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&discoveryv3.DiscoveryRequest{
		Node:    &corev3.Node{Id: nodeID, Cluster: "warden"},
		TypeUrl: resource.ClusterType,
	})
	if err != nil {
		return nil, err
	}
	return &sotwStream{stream: stream}, nil
}

// next receives a response, checks that it holds one cluster, ACKs it and returns the
// response's version and the cluster's name.
func (s *sotwStream) next() (version, cluster string, err error) {
	resp, err := s.stream.Recv()
	if err != nil {
		return "", "", err
	}
	if resp.GetTypeUrl() != resource.ClusterType || len(resp.GetResources()) != 1 {
		return "", "", errors.New("response is not exactly one cluster: " + resp.String())
	}
	var c clusterv3.Cluster
	if err := resp.GetResources()[0].UnmarshalTo(&c); err != nil {
		return "", "", err
	}
	err = s.stream.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       resource.ClusterType,
		VersionInfo:   resp.GetVersionInfo(),
		ResponseNonce: resp.GetNonce(),
	})
	return resp.GetVersionInfo(), c.GetName(), err
}

// fetchSotW fetches clusters over a new state-of-the-world ADS stream on conn and returns
// the first response's version and cluster.
func fetchSotW(ctx context.Context, conn *grpc.ClientConn) (version, cluster string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := openSotW(ctx, conn)
	if err != nil {
		return "", "", err
	}
	return s.next()
}

// fetchDelta fetches clusters over a new delta ADS stream on conn and returns the first
// response's cluster name and resource version.
func fetchDelta(ctx context.Context, conn *grpc.ClientConn) (cluster, version string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return "", "", err
	}
	err = stream.Send(&discoveryv3.DeltaDiscoveryRequest{
		Node:    &corev3.Node{Id: nodeID, Cluster: "warden"},
		TypeUrl: resource.ClusterType,
	})
	if err != nil {
		return "", "", err
	}
	resp, err := stream.Recv()
	if err != nil {
		return "", "", err
	}
	if resp.GetTypeUrl() != resource.ClusterType || len(resp.GetResources()) != 1 {
		return "", "", errors.New("response is not exactly one cluster: " + resp.String())
	}
	r := resp.GetResources()[0]
	var c clusterv3.Cluster
	if err := r.GetResource().UnmarshalTo(&c); err != nil {
		return "", "", err
	}
	if c.GetName() != r.GetName() {
		return "", "", errors.New("delta resource name " + r.GetName() + " is not the cluster's name " + c.GetName())
	}
	return r.GetName(), r.GetVersion(), nil
}

// eventually calls f until it returns nil, failing the test if it still fails after 5 s.
// Reloads are polled every 20 ms in tests, so it normally succeeds within a few tries.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 5s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
