package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// Defaults for Options. cmd/ uses them as flag defaults.
const (
	// DefaultXDSPort is the port of Warden's xDS server (xds/server.DefaultAddress).
	DefaultXDSPort = 8001

	// DefaultAdminSocket is the unix socket of Envoy's admin interface, on a volume shared
	// with the shutdown-manager sidecar (envoy/shutdown), as in Contour. A socket rather than
	// a TCP port keeps the admin interface (which can stop Envoy) off the pod network.
	DefaultAdminSocket = "/admin/admin.sock"

	// DefaultServerName is the DNS subject alternative name Envoy requires in the xDS
	// server's certificate.
	DefaultServerName = "warden"
)

// Options describe the Envoy bootstrap to generate. Only XDSAddress is required.
type Options struct {
	// XDSAddress is the xDS server's host name (usually its Service's DNS name, resolved by
	// Envoy: a STRICT_DNS cluster) or IP address (a STATIC cluster), without a port.
	XDSAddress string

	// XDSPort is the xDS server's port. Default DefaultXDSPort (8001).
	XDSPort uint32

	// Delta makes Envoy use incremental ADS (api_type DELTA_GRPC): after the first response
	// the server sends only the resources that changed. Default false: state-of-the-world
	// ADS (api_type GRPC). The xDS server serves both on the same port.
	Delta bool

	// AdminSocket is the path of the unix socket Envoy's admin interface listens on.
	// Default DefaultAdminSocket ("/admin/admin.sock"). Must be absolute.
	AdminSocket string

	// NodeID and Cluster are Envoy's node.id and node.cluster. Envoy refuses to subscribe
	// over gRPC without both; when they are empty here they must be given on Envoy's command
	// line (--service-node, --service-cluster), e.g. from the pod name and namespace.
	NodeID, Cluster string

	// CAFile, CertFile and KeyFile are the paths, in Envoy's container, of the CA bundle that
	// signs the xDS server's certificate and of Envoy's client certificate and key. All three
	// or none: without them Envoy connects in plaintext, which only a server started with
	// Insecure accepts. Must be absolute.
	CAFile, CertFile, KeyFile string

	// ServerName is the DNS subject alternative name Envoy requires in the xDS server's
	// certificate. Default DefaultServerName ("warden").
	ServerName string

	// ResourcesDir is where Write puts the SDS files that hand Envoy its client certificate
	// and CA (ResourcesDir/sds/xds-tls-certificate.json and
	// ResourcesDir/sds/xds-validation-context.json). Envoy watches the certificates'
	// directories through them and reloads rotated certificates without a restart. When it is
	// empty, the bootstrap names the certificate files directly and Envoy reads them once, at
	// start-up: a rotation then needs an Envoy restart. Unused without TLS files. Must be
	// absolute.
	ResourcesDir string
}

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.XDSPort == 0 {
		o.XDSPort = DefaultXDSPort
	}
	if o.AdminSocket == "" {
		o.AdminSocket = DefaultAdminSocket
	}
	if o.ServerName == "" {
		o.ServerName = DefaultServerName
	}
	return o
}

// tls reports whether o configures TLS to the xDS server.
func (o Options) tls() bool {
	return o.CAFile != ""
}

// sds reports whether o hands the TLS material to Envoy through SDS files.
func (o Options) sds() bool {
	return o.tls() && o.ResourcesDir != ""
}

// validate checks defaulted options and reports every problem at once.
func (o Options) validate() error {
	var errs []error
	switch {
	case o.XDSAddress == "":
		errs = append(errs, errors.New("the xDS server address is required"))
	case strings.ContainsAny(o.XDSAddress, " /") || (strings.Contains(o.XDSAddress, ":") && net.ParseIP(o.XDSAddress) == nil):
		errs = append(errs, fmt.Errorf("xDS server address %q is neither a host name nor an IP address (give the port separately)", o.XDSAddress))
	}
	if o.XDSPort > 65535 {
		errs = append(errs, fmt.Errorf("xDS port %d is out of range 1-65535", o.XDSPort))
	}
	set := map[string]string{"CA file": o.CAFile, "certificate file": o.CertFile, "key file": o.KeyFile}
	var missing, given []string
	for _, name := range []string{"CA file", "certificate file", "key file"} {
		if set[name] == "" {
			missing = append(missing, name)
		} else {
			given = append(given, name)
		}
	}
	if len(given) > 0 && len(missing) > 0 {
		errs = append(errs, fmt.Errorf("xDS TLS needs the CA file, the certificate file and the key file together: %s given without %s",
			strings.Join(given, " and "), strings.Join(missing, " and ")))
	}
	for _, p := range []struct{ name, path string }{
		{"admin socket", o.AdminSocket},
		{"CA file", o.CAFile},
		{"certificate file", o.CertFile},
		{"key file", o.KeyFile},
		{"resources directory", o.ResourcesDir},
	} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			errs = append(errs, fmt.Errorf("%s %q must be an absolute path: Envoy resolves it in its own working directory", p.name, p.path))
		}
	}
	return errors.Join(errs...)
}
