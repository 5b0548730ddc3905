package bootstrap

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// resourcesDir stands for the temporary ResourcesDir in golden files.
const resourcesDir = "/config/resources"

// cases are the bootstraps under test, each with its golden directory testdata/<name>.
var cases = map[string]Options{
	"mtls-sds-dns": {
		XDSAddress:   "warden.warden-system.svc",
		NodeID:       "envoy-7d9f8",
		Cluster:      "warden-system",
		CAFile:       "/certs/ca.crt",
		CertFile:     "/certs/tls.crt",
		KeyFile:      "/certs/tls.key",
		ResourcesDir: resourcesDir,
	},
	"mtls-inline-ip-delta": {
		XDSAddress:  "10.96.0.42",
		XDSPort:     18001,
		Delta:       true,
		AdminSocket: "/var/run/envoy/admin.sock",
		CAFile:      "/ca/bundle.pem",
		CertFile:    "/certs/tls.crt",
		KeyFile:     "/certs/tls.key",
		ServerName:  "xds.warden-system.svc",
	},
	"plaintext-ipv6": {
		XDSAddress: "::1",
	},
}

// withResourcesDir returns o writing its SDS files under dir instead of resourcesDir.
func withResourcesDir(o Options, dir string) Options {
	if o.ResourcesDir != "" {
		o.ResourcesDir = dir
	}
	return o
}

func TestWriteMatchesGoldenFiles(t *testing.T) {
	if *update {
		entries, err := os.ReadDir("testdata")
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := cases[e.Name()]; !ok {
				t.Logf("removing stale golden directory testdata/%s", e.Name())
				must(t, os.RemoveAll(filepath.Join("testdata", e.Name())))
			}
		}
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			got := writeAll(t, o)
			golden := filepath.Join("testdata", name)
			if *update {
				must(t, os.RemoveAll(golden))
				for file, b := range got {
					must(t, os.MkdirAll(filepath.Dir(filepath.Join(golden, file)), 0o755))
					must(t, os.WriteFile(filepath.Join(golden, file), []byte(b), 0o644))
				}
			}
			want := readTree(t, golden)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files differ from testdata/%s (-want +got); run go test -update to accept:\n%s", name, diff)
			}
		})
	}
}

// writeAll runs Write for o with a temporary ResourcesDir and returns every file it wrote,
// the bootstrap as "bootstrap.json", with the temporary directory replaced by resourcesDir.
func writeAll(t *testing.T, o Options) map[string]string {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := Write(&out, withResourcesDir(o, dir)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	files := readTree(t, dir)
	files["bootstrap.json"] = out.String()
	for name, b := range files {
		files[name] = strings.ReplaceAll(b, dir, resourcesDir)
	}
	return files
}

// readTree returns the contents of the regular files under dir, by slash-separated path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWrittenBootstrapIsValidAndEqualsGenerate(t *testing.T) {
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			o = withResourcesDir(o, t.TempDir())
			var out bytes.Buffer
			if err := Write(&out, o); err != nil {
				t.Fatal(err)
			}
			var b bootstrapv3.Bootstrap
			if err := protojson.Unmarshal(out.Bytes(), &b); err != nil {
				t.Fatalf("output does not unmarshal as a Bootstrap: %v", err)
			}
			if err := b.ValidateAll(); err != nil {
				t.Errorf("Bootstrap.ValidateAll: %v", err)
			}
			for _, c := range b.GetStaticResources().GetClusters() {
				validatePacked(t, c)
			}
			generated, err := Generate(o)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(generated, &b, protocmp.Transform()); diff != "" {
				t.Errorf("written bootstrap differs from Generate's (-generated +written):\n%s", diff)
			}
		})
	}
}

// validatePacked unpacks and validates what c packs into Any fields, which ValidateAll on c
// does not look into.
func validatePacked(t *testing.T, c *clusterv3.Cluster) {
	t.Helper()
	for name, a := range c.GetTypedExtensionProtocolOptions() {
		var opts httpv3.HttpProtocolOptions
		if err := a.UnmarshalTo(&opts); err != nil {
			t.Errorf("cluster %s: %s: %v", c.GetName(), name, err)
		} else if err := opts.ValidateAll(); err != nil {
			t.Errorf("cluster %s: %s: %v", c.GetName(), name, err)
		}
		if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Errorf("cluster %s does not use HTTP/2 explicitly", c.GetName())
		}
	}
	if ts := c.GetTransportSocket(); ts != nil {
		var tlsContext tlsv3.UpstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&tlsContext); err != nil {
			t.Errorf("cluster %s: transport socket: %v", c.GetName(), err)
		} else if err := tlsContext.ValidateAll(); err != nil {
			t.Errorf("cluster %s: transport socket: %v", c.GetName(), err)
		}
	}
}

// TestSDSFilesServeTheSecretsTheBootstrapAsksFor follows every SdsSecretConfig of the
// bootstrap to its file, as Envoy would, and checks that the file is a valid
// DiscoveryResponse holding exactly the secret requested.
func TestSDSFilesServeTheSecretsTheBootstrapAsksFor(t *testing.T) {
	o := withResourcesDir(cases["mtls-sds-dns"], t.TempDir())
	var out bytes.Buffer
	if err := Write(&out, o); err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	must(t, protojson.Unmarshal(out.Bytes(), &b))
	var tlsContext tlsv3.UpstreamTlsContext
	must(t, b.GetStaticResources().GetClusters()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&tlsContext))
	common := tlsContext.GetCommonTlsContext()
	refs := append(common.GetTlsCertificateSdsSecretConfigs(), common.GetValidationContextSdsSecretConfig())
	if len(refs) != 2 {
		t.Fatalf("got %d SDS secret references, want 2", len(refs))
	}

	want := map[string]func(*tlsv3.Secret) bool{
		TLSCertificateSecret: func(s *tlsv3.Secret) bool {
			c := s.GetTlsCertificate()
			return c.GetCertificateChain().GetFilename() == o.CertFile && c.GetPrivateKey().GetFilename() == o.KeyFile &&
				c.GetWatchedDirectory().GetPath() == "/certs"
		},
		ValidationContextSecret: func(s *tlsv3.Secret) bool {
			v := s.GetValidationContext()
			return v.GetTrustedCa().GetFilename() == o.CAFile && v.GetWatchedDirectory().GetPath() == "/certs" &&
				v.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() == DefaultServerName
		},
	}
	for _, ref := range refs {
		path := ref.GetSdsConfig().GetPathConfigSource().GetPath()
		if !strings.HasPrefix(path, o.ResourcesDir+"/sds/") {
			t.Errorf("secret %s is read from %q, outside ResourcesDir/sds", ref.GetName(), path)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("secret %s: %v", ref.GetName(), err)
		}
		var resp discoveryv3.DiscoveryResponse
		if err := protojson.Unmarshal(raw, &resp); err != nil {
			t.Fatalf("%s does not unmarshal as a DiscoveryResponse: %v", path, err)
		}
		must(t, resp.ValidateAll())
		if len(resp.GetResources()) != 1 {
			t.Fatalf("%s holds %d resources, want 1", path, len(resp.GetResources()))
		}
		var secret tlsv3.Secret
		if err := resp.GetResources()[0].UnmarshalTo(&secret); err != nil {
			t.Fatalf("%s does not hold a Secret: %v", path, err)
		}
		must(t, secret.ValidateAll())
		if secret.GetName() != ref.GetName() {
			t.Errorf("%s holds secret %q, the bootstrap asks for %q", path, secret.GetName(), ref.GetName())
		}
		if check := want[secret.GetName()]; check == nil || !check(&secret) {
			t.Errorf("%s holds an unexpected secret: %v", path, &secret)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
