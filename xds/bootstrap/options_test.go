package bootstrap

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

func TestGenerateRejectsInvalidOptions(t *testing.T) {
	tls := func(o Options) Options {
		o.CAFile, o.CertFile, o.KeyFile = "/certs/ca.crt", "/certs/tls.crt", "/certs/tls.key"
		return o
	}
	cases := map[string]struct {
		o    Options
		want string
	}{
		"no xDS address":             {Options{}, "the xDS server address is required"},
		"address with a port":        {Options{XDSAddress: "warden:8001"}, "neither a host name nor an IP address"},
		"address that is a URL":      {Options{XDSAddress: "https://warden"}, "neither a host name nor an IP address"},
		"port out of range":          {Options{XDSAddress: "warden", XDSPort: 70000}, "out of range"},
		"certificate and key only":   {Options{XDSAddress: "warden", CertFile: "/certs/tls.crt", KeyFile: "/certs/tls.key"}, "certificate file and key file given without CA file"},
		"CA only":                    {Options{XDSAddress: "warden", CAFile: "/certs/ca.crt"}, "CA file given without certificate file and key file"},
		"relative certificate path":  {Options{XDSAddress: "warden", CAFile: "/c/ca.crt", CertFile: "tls.crt", KeyFile: "/c/tls.key"}, `certificate file "tls.crt" must be an absolute path`},
		"relative resources dir":     {tls(Options{XDSAddress: "warden", ResourcesDir: "resources"}), `resources directory "resources" must be an absolute path`},
		"relative admin socket":      {Options{XDSAddress: "warden", AdminSocket: "admin.sock"}, `admin socket "admin.sock" must be an absolute path`},
		"several problems, all told": {Options{XDSPort: 70000, CAFile: "/ca.crt"}, "address is required\nxDS port 70000 is out of range"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Generate(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if tc.o.ResourcesDir == "" {
				tc.o.ResourcesDir = filepath.Join(t.TempDir(), "resources")
			}
			var out bytes.Buffer
			if err := Write(&out, tc.o); err == nil {
				t.Fatal("Write succeeded")
			}
			if out.Len() != 0 {
				t.Errorf("Write wrote %d bytes despite the error", out.Len())
			}
			if _, err := os.Stat(tc.o.ResourcesDir); !os.IsNotExist(err) {
				t.Errorf("Write created the resources directory despite the error")
			}
		})
	}
}

func TestXDSClusterTypeFollowsTheAddress(t *testing.T) {
	cases := map[string]struct {
		address string
		want    clusterv3.Cluster_DiscoveryType
	}{
		"host name resolved by Envoy": {"warden.warden-system.svc.cluster.local", clusterv3.Cluster_STRICT_DNS},
		"IPv4 address":                {"10.96.0.42", clusterv3.Cluster_STATIC},
		"IPv6 address":                {"fd00::42", clusterv3.Cluster_STATIC},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := Generate(Options{XDSAddress: tc.address})
			if err != nil {
				t.Fatal(err)
			}
			c := b.GetStaticResources().GetClusters()[0]
			if c.GetName() != XDSCluster || c.GetType() != tc.want {
				t.Errorf("got cluster %s of type %s, want %s of type %s", c.GetName(), c.GetType(), XDSCluster, tc.want)
			}
		})
	}
}

func TestSDSFilesWatchEachFilesDirectoryWhenCertificateAndKeyAreApart(t *testing.T) {
	o := Options{CAFile: "/ca/bundle.pem", CertFile: "/certs/tls.crt", KeyFile: "/keys/tls.key"}
	files, err := sdsFiles(o.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	for name, resp := range files {
		if len(resp.GetResources()) != 1 {
			t.Fatalf("%s: %d resources", name, len(resp.GetResources()))
		}
	}
	var cert, ca = files[TLSCertificateFile], files[ValidationContextFile]
	if cert == nil || ca == nil {
		t.Fatalf("got files %v", files)
	}
	raw := cert.String() + ca.String()
	if strings.Contains(raw, `path:"/certs"`) || strings.Contains(raw, `path:"/keys"`) {
		t.Errorf("the certificate's watched directory is set although certificate and key are apart:\n%s", raw)
	}
	if !strings.Contains(raw, `"/ca"`) {
		t.Errorf("the CA's directory is not watched:\n%s", raw)
	}
}
