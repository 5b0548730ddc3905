package translate

import (
	"slices"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Defaults for Options, Contour's (reference/contour-semantics.md §4.1). cmd/ may use them
// as flag defaults.
const (
	// DefaultAddress is the address both listeners bind.
	DefaultAddress = "0.0.0.0"
	// DefaultHTTPPort is the port of the ingress_http listener (the Service maps 80 to it).
	DefaultHTTPPort = 8080
	// DefaultHTTPSPort is the port of the ingress_https listener (the Service maps 443 to it).
	DefaultHTTPSPort = 8443
	// DefaultMinTLSVersion and DefaultMaxTLSVersion bound the TLS versions Envoy accepts
	// from clients and offers to upstreams.
	DefaultMinTLSVersion = "1.2"
	DefaultMaxTLSVersion = "1.3"
)

// DefaultCipherSuites returns Contour's default TLS 1.2 cipher suites for downstream
// connections, most preferred first; "[a|b]" is an equal-preference group. TLS 1.3 ignores
// them. It returns a new slice on every call.
func DefaultCipherSuites() []string {
	return []string{
		"[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
		"[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
		"ECDHE-ECDSA-AES256-GCM-SHA384",
		"ECDHE-RSA-AES256-GCM-SHA384",
	}
}

// Options are the fleet-wide listener and TLS settings of a translation. The zero value is
// Contour's default configuration; every field documents its default.
type Options struct {
	// Address is the IP address both listeners bind. Default DefaultAddress ("0.0.0.0").
	Address string

	// HTTPPort is the port of the ingress_http listener. Default DefaultHTTPPort (8080).
	HTTPPort uint32

	// HTTPSPort is the port of the ingress_https listener. Default DefaultHTTPSPort (8443).
	HTTPSPort uint32

	// MinTLSVersion is the lowest TLS version ("1.2" or "1.3") any HTTPS virtual host
	// accepts: a vhost asking for less gets this, as with Contour's
	// tls.minimum-protocol-version. Default DefaultMinTLSVersion ("1.2"). Another value
	// is treated as the default.
	MinTLSVersion string

	// MaxTLSVersion is the highest TLS version ("1.2" or "1.3") any HTTPS virtual host
	// accepts: a vhost asking for more gets this. When it is below a vhost's effective
	// minimum, the minimum wins (a floor set for security outranks a ceiling). Default
	// DefaultMaxTLSVersion ("1.3"). Another value is treated as the default.
	MaxTLSVersion string

	// CipherSuites are the TLS 1.2 cipher suites HTTPS virtual hosts offer, in Envoy's
	// syntax. Default DefaultCipherSuites().
	CipherSuites []string

	// UpstreamMinTLSVersion and UpstreamMaxTLSVersion bound the TLS versions Envoy offers
	// to "tls" and "h2" upstreams. Defaults DefaultMinTLSVersion and DefaultMaxTLSVersion
	// (Envoy's own client default would stop at TLS 1.2). Another value is treated as the
	// default. Upstream cipher suites are Envoy's defaults.
	UpstreamMinTLSVersion string
	UpstreamMaxTLSVersion string
}

// withDefaults returns o with every zero or unknown field replaced by its default.
func (o Options) withDefaults() Options {
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = DefaultHTTPPort
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = DefaultHTTPSPort
	}
	o.MinTLSVersion = versionOr(o.MinTLSVersion, DefaultMinTLSVersion)
	o.MaxTLSVersion = versionOr(o.MaxTLSVersion, DefaultMaxTLSVersion)
	o.UpstreamMinTLSVersion = versionOr(o.UpstreamMinTLSVersion, DefaultMinTLSVersion)
	o.UpstreamMaxTLSVersion = versionOr(o.UpstreamMaxTLSVersion, DefaultMaxTLSVersion)
	if len(o.CipherSuites) == 0 {
		o.CipherSuites = DefaultCipherSuites()
	} else {
		o.CipherSuites = slices.Clone(o.CipherSuites)
	}
	return o
}

var tlsVersions = map[string]tlsv3.TlsParameters_TlsProtocol{
	"1.2": tlsv3.TlsParameters_TLSv1_2,
	"1.3": tlsv3.TlsParameters_TLSv1_3,
}

// versionOr returns v if it is a TLS version Warden supports, else def.
func versionOr(v, def string) string {
	if _, ok := tlsVersions[v]; ok {
		return v
	}
	return def
}

// downstreamVersions is the TLS version range of a vhost that asks for [lo, hi]: clamped
// to the fleet's [o.MinTLSVersion, o.MaxTLSVersion], the floor winning a conflict.
func (o Options) downstreamVersions(lo, hi string) (minV, maxV tlsv3.TlsParameters_TlsProtocol) {
	minV = max(tlsVersions[versionOr(lo, o.MinTLSVersion)], tlsVersions[o.MinTLSVersion])
	maxV = min(tlsVersions[versionOr(hi, o.MaxTLSVersion)], tlsVersions[o.MaxTLSVersion])
	return minV, max(minV, maxV)
}
