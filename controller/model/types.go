package model

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Model is everything Envoy must serve, sorted so that equal inputs give equal models.
//
// Build returns a complete Model; Replace updates it one virtual host at a time. Every
// cluster named by a route is in Clusters, every cluster's EDSName is in Endpoints, and
// every secret named by a vhost or cluster is in Secrets; nothing else is.
//
// A VirtualHost, Cluster or ClusterLoadAssignment in a Model, and everything it points to,
// is never changed: Replace, Rebuild and RefreshEndpoints put new values in for what they
// rebuild (even when equal to the old ones), so a consumer may keep what it derived from
// an item for as long as the item's pointer is in the Model (xds/translate.Translator
// does). Secret.Data is the exception: the caller fills it in place.
type Model struct {
	// VirtualHosts are sorted by FQDN. Only hosts that can be served are present: a root
	// whose TLS secret is missing, or whose tree yields no route, has none (see Problems).
	VirtualHosts []*VirtualHost `json:"virtualHosts,omitempty"`

	// Clusters are sorted by Name. A cluster used by several vhosts appears once.
	Clusters []*Cluster `json:"clusters,omitempty"`

	// Endpoints are sorted by Name (a cluster's EDSName).
	Endpoints []*ClusterLoadAssignment `json:"endpoints,omitempty"`

	// Secrets are the TLS secrets the vhosts and clusters reference, sorted by Name.
	Secrets []*Secret `json:"secrets,omitempty"`

	// Unsupported lists, sorted, each field of an included HTTPProxy that the model does
	// not carry (for example "ns/name: spec.tcpproxy is not modelled"), so that nothing is
	// dropped silently.
	Unsupported []string `json:"unsupported,omitempty"`

	// Problems lists, sorted, what the model replaced or left out and why: 502 routes for
	// broken includes, unresolved backends, routes dropped for an error on their include
	// chain, vhosts not served. Each entry starts with the object it concerns.
	Problems []string `json:"problems,omitempty"`

	// Index says which vhosts each object's changes can affect.
	Index Index `json:"index,omitzero"`

	// parts and refs let Replace swap one vhost's contribution; see replace.go.
	parts map[string]*Part
	refs  refCounts
}

// Index maps objects to the FQDNs of the vhosts whose include trees reference them,
// including references to objects that do not exist (yet), so that their creation triggers
// a rebuild. Each FQDN list is sorted.
type Index struct {
	// ProxyToFQDNs: every HTTPProxy a tree visits or tries to include, roots included.
	ProxyToFQDNs map[Key][]string `json:"proxyToFQDNs,omitempty"`
	// ServiceToFQDNs: every Service a route of the tree names. A change to the Service
	// object needs those vhosts rebuilt; a change to its EndpointSlices needs only
	// Model.RefreshEndpoints.
	ServiceToFQDNs map[Key][]string `json:"serviceToFQDNs,omitempty"`
	// SecretToFQDNs: every Secret the tree names (vhost certificate, client CA, CRL,
	// fallback certificate, upstream CA).
	SecretToFQDNs map[Key][]string `json:"secretToFQDNs,omitempty"`
}

// IsZero reports whether the index is empty.
func (x Index) IsZero() bool {
	return len(x.ProxyToFQDNs) == 0 && len(x.ServiceToFQDNs) == 0 && len(x.SecretToFQDNs) == 0
}

// VirtualHost is one fqdn and its routes, served on the HTTP listener and, when TLS is set,
// on the HTTPS listener under SNI FQDN.
type VirtualHost struct {
	// FQDN is the root's spec.virtualhost.fqdn, lower-cased. A leading "*." makes it a
	// wildcard host; its routes then carry an ":authority" header match limiting it to
	// one DNS label, as Contour does.
	FQDN string `json:"fqdn"`
	// Root is the HTTPProxy that owns the fqdn.
	Root Key `json:"root"`
	// TLS is set when the root terminates TLS with a certificate that exists. It is nil
	// for a TLS passthrough or TCPProxy root, whose HTTPS side is not modelled (their
	// routes still redirect HTTP to HTTPS).
	TLS *TLS `json:"tls,omitempty"`
	// Routes are sorted most- to least-specific (see sortRoutes); Envoy takes the first
	// match.
	Routes []*Route `json:"routes"`
}

// TLS is a vhost's downstream TLS settings.
type TLS struct {
	// SecretRef is the certificate and key (spec.virtualhost.tls.secretName).
	SecretRef Key `json:"secretRef"`
	// MinVersion is "1.2" (default) or "1.3"; MaxVersion is "1.3" (default) or "1.2".
	// Other values fall back to the defaults, as in Contour.
	MinVersion string `json:"minVersion"`
	MaxVersion string `json:"maxVersion"`
	// ClientValidation asks for client certificates.
	ClientValidation *ClientValidation `json:"clientValidation,omitempty"`
	// FallbackCertificate, when set, is the certificate (Options.FallbackCertificate)
	// served to clients without SNI for this vhost; zero when the vhost does not enable
	// it.
	FallbackCertificate Key `json:"fallbackCertificate,omitzero"`
}

// ClientValidation is downstream (client certificate) validation.
type ClientValidation struct {
	// CASecret holds the CA bundle; zero when validation is skipped without a CA.
	CASecret Key `json:"caSecret,omitzero"`
	// SkipVerify requests a client certificate but does not verify it.
	SkipVerify bool `json:"skipVerify,omitempty"`
	// CRLSecret holds a certificate revocation list; zero when none.
	CRLSecret Key `json:"crlSecret,omitzero"`
	// CRLOnlyVerifyLeaf checks only the leaf certificate against the CRL.
	CRLOnlyVerifyLeaf bool `json:"crlOnlyVerifyLeaf,omitempty"`
	// OptionalClientCert accepts connections without a client certificate.
	OptionalClientCert bool `json:"optionalClientCert,omitempty"`
	// ForwardClientCert selects the client-certificate details forwarded upstream in
	// x-forwarded-client-cert; nil forwards nothing.
	ForwardClientCert *ForwardClientCert `json:"forwardClientCert,omitempty"`
}

// ForwardClientCert selects the x-forwarded-client-cert fields.
type ForwardClientCert struct {
	Subject bool `json:"subject,omitempty"`
	Cert    bool `json:"cert,omitempty"`
	Chain   bool `json:"chain,omitempty"`
	DNS     bool `json:"dns,omitempty"`
	URI     bool `json:"uri,omitempty"`
}

// Route is one Envoy route: a match and exactly one action (Forward, Redirect or
// DirectResponse).
type Route struct {
	// Owner is the HTTPProxy that defined the route; services are looked up in its
	// namespace.
	Owner Key `json:"owner"`
	// Origin is where in Owner the route comes from: "routes[i]", or "includes[i]" for
	// the 502 route standing in for a broken include.
	Origin Origin `json:"origin"`

	// PathMatch is the path condition merged along the include chain (§2.2).
	PathMatch PathMatch `json:"pathMatch"`
	// Headers are the header conditions of the whole include chain, sorted by name then
	// kind (exact, regex, contains, present).
	Headers []HeaderMatch `json:"headers,omitempty"`
	// QueryParams are the query conditions of the whole chain, sorted by name then kind.
	QueryParams []QueryMatch `json:"queryParams,omitempty"`

	// HTTPSRedirect: on the HTTP listener the route is a 301 to https instead; on the
	// HTTPS listener it acts normally. Set when the root terminates TLS (or is a TLS
	// passthrough) and the route is not permitInsecure, or permitInsecure is disabled.
	HTTPSRedirect bool `json:"httpsRedirect,omitempty"`

	// Forward proxies to clusters.
	Forward *Forward `json:"forward,omitempty"`
	// Redirect answers with a redirect (spec.routes[].requestRedirectPolicy).
	Redirect *Redirect `json:"redirect,omitempty"`
	// DirectResponse answers with a fixed status and body: a directResponsePolicy, a 503
	// when no backend resolves, or a 502 for a broken include.
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`

	// RequestHeaders and ResponseHeaders are the route's header policies. Values are
	// verbatim: escaping "%" for Envoy is the translator's job.
	RequestHeaders  *HeadersPolicy `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeadersPolicy `json:"responseHeaders,omitempty"`
}

// Origin locates a route in its owner: Field is "routes" or "includes", Index the
// position in that list. It renders as "routes[1]".
type Origin struct {
	Field string
	Index int
}

// String returns "field[index]".
func (o Origin) String() string { return o.Field + "[" + strconv.Itoa(o.Index) + "]" }

// MarshalText renders the origin as "field[index]".
func (o Origin) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText parses "field[index]".
func (o *Origin) UnmarshalText(b []byte) error {
	field, rest, ok := strings.Cut(string(b), "[")
	idx, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if !ok || err != nil {
		return fmt.Errorf("origin %q: want field[index]", b)
	}
	o.Field, o.Index = field, idx
	return nil
}

// Compare orders origins by field, then index.
func (o Origin) Compare(p Origin) int {
	if c := strings.Compare(o.Field, p.Field); c != 0 {
		return c
	}
	return cmp.Compare(o.Index, p.Index)
}

// PathMatchKind is how a route matches the request path.
type PathMatchKind string

// Path match kinds.
const (
	PathPrefix PathMatchKind = "prefix"
	PathExact  PathMatchKind = "exact"
	PathRegex  PathMatchKind = "regex"
)

// PathMatch is a route's path condition. Prefix matches are string prefixes, not segment
// prefixes, as in Contour's HTTPProxy.
type PathMatch struct {
	Kind  PathMatchKind `json:"kind"`
	Value string        `json:"value"`
}

// HeaderMatchKind is how a header condition matches.
type HeaderMatchKind string

// Header match kinds. notpresent, notexact and notcontains are the positive kind with
// Invert set.
const (
	HeaderExact    HeaderMatchKind = "exact"
	HeaderRegex    HeaderMatchKind = "regex"
	HeaderContains HeaderMatchKind = "contains"
	HeaderPresent  HeaderMatchKind = "present"
)

// HeaderMatch is one header condition.
type HeaderMatch struct {
	Name                string          `json:"name"`
	Kind                HeaderMatchKind `json:"kind"`
	Value               string          `json:"value,omitempty"`
	Invert              bool            `json:"invert,omitempty"`
	IgnoreCase          bool            `json:"ignoreCase,omitempty"`
	TreatMissingAsEmpty bool            `json:"treatMissingAsEmpty,omitempty"`
}

// QueryMatchKind is how a query parameter condition matches.
type QueryMatchKind string

// Query parameter match kinds.
const (
	QueryExact    QueryMatchKind = "exact"
	QueryRegex    QueryMatchKind = "regex"
	QueryPrefix   QueryMatchKind = "prefix"
	QuerySuffix   QueryMatchKind = "suffix"
	QueryContains QueryMatchKind = "contains"
	QueryPresent  QueryMatchKind = "present"
)

// QueryMatch is one query parameter condition.
type QueryMatch struct {
	Name       string         `json:"name"`
	Kind       QueryMatchKind `json:"kind"`
	Value      string         `json:"value,omitempty"`
	IgnoreCase bool           `json:"ignoreCase,omitempty"`
}

// Forward proxies the request to weighted clusters.
type Forward struct {
	// Clusters are the resolved backends, sorted by cluster name then weight; never
	// empty (a route with none is a 503 DirectResponse). If every weight was 0, each is 1.
	Clusters []WeightedCluster `json:"clusters"`
	// Mirror, when set, receives a copy of Percent% of the requests.
	Mirror *Mirror `json:"mirror,omitempty"`
	// Timeouts are the route's response and stream-idle timeouts.
	Timeouts *Timeouts `json:"timeouts,omitempty"`
	// Retry is the route's retry policy.
	Retry *Retry `json:"retry,omitempty"`
	// PrefixRewrite replaces the matched path prefix (PathMatch.Value) when non-empty; it
	// is the replacePrefix entry chosen as Contour chooses it (exact prefix, else the
	// entry without prefix).
	PrefixRewrite string `json:"prefixRewrite,omitempty"`
	// Websocket allows connection upgrades to websockets.
	Websocket bool `json:"websocket,omitempty"`
	// HashPolicies feed the Cookie and RequestHash load-balancer strategies.
	HashPolicies []HashPolicy `json:"hashPolicies,omitempty"`
}

// WeightedCluster is one backend of a route.
type WeightedCluster struct {
	ClusterName string `json:"clusterName"`
	Weight      uint32 `json:"weight"`
}

// Mirror is a request mirror.
type Mirror struct {
	ClusterName string `json:"clusterName"`
	// Percent of requests mirrored; 100 when the service's weight is 0, as in Contour.
	Percent uint32 `json:"percent"`
}

// Timeouts are route timeouts. Nil means Envoy's default; a zero duration means disabled
// (HTTPProxy "infinity").
type Timeouts struct {
	Response *metav1.Duration `json:"response,omitempty"`
	Idle     *metav1.Duration `json:"idle,omitempty"`
}

// Retry is a route's retry policy.
type Retry struct {
	// Count is the number of retries: 1 when the HTTPProxy says 0 or nothing, 0 for -1.
	Count uint32 `json:"count"`
	// PerTryTimeout is nil for Envoy's default.
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`
	// RetryOn are Envoy retry conditions; ["5xx"] when none is given.
	RetryOn []string `json:"retryOn"`
	// RetriableStatusCodes apply with the "retriable-status-codes" condition.
	RetriableStatusCodes []uint32 `json:"retriableStatusCodes,omitempty"`
}

// HashPolicy is one request attribute hashed for consistent load balancing. Exactly one
// of SourceIP, Header, QueryParameter and Cookie is set.
type HashPolicy struct {
	Terminal       bool        `json:"terminal,omitempty"`
	SourceIP       bool        `json:"sourceIP,omitempty"`
	Header         string      `json:"header,omitempty"`
	QueryParameter string      `json:"queryParameter,omitempty"`
	Cookie         *HashCookie `json:"cookie,omitempty"`
}

// HashCookie is the session-affinity cookie of the Cookie strategy.
type HashCookie struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Redirect is a redirect response. Empty fields keep the request's value.
type Redirect struct {
	Scheme   string `json:"scheme,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Port     uint32 `json:"port,omitempty"`
	// StatusCode is 301 or 302; 0 means Envoy's default (301).
	StatusCode int `json:"statusCode,omitempty"`
	// Path replaces the whole path; Prefix replaces the matched prefix. At most one is set.
	Path   string `json:"path,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// DirectResponse is a fixed response.
type DirectResponse struct {
	Status uint32 `json:"status"`
	Body   string `json:"body,omitempty"`
}

// HeadersPolicy sets and removes headers. Names are canonical (http.CanonicalHeaderKey).
type HeadersPolicy struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
	// HostRewrite is a literal Host set on request headers.
	HostRewrite string `json:"hostRewrite,omitempty"`
	// HostRewriteHeader is the header whose value becomes Host ("%REQ(x)%").
	HostRewriteHeader string `json:"hostRewriteHeader,omitempty"`
}

// Protocol is how Envoy speaks to a cluster.
type Protocol string

// Upstream protocols.
const (
	ProtocolHTTP1 Protocol = ""
	ProtocolH2    Protocol = "h2"  // HTTP/2 over TLS
	ProtocolH2C   Protocol = "h2c" // HTTP/2 in clear text
	ProtocolTLS   Protocol = "tls" // HTTP/1 over TLS
)

// Cluster is one upstream: a Service port plus the settings that make its Envoy cluster
// distinct.
type Cluster struct {
	// Name is Contour's cluster name, namespace/service/port/hash, where hash is the
	// first 10 hex digits of the SHA-1 of the upstream settings (da39a3ee5e when there
	// are none). Names of 60 characters or more are shortened as Contour's Hashname does.
	Name string `json:"name"`
	// Service is the Kubernetes Service, in the namespace of the route's owner.
	Service Key `json:"service"`
	// Port is the Service port number; PortName its name (may be empty).
	Port     int32  `json:"port"`
	PortName string `json:"portName,omitempty"`
	// Protocol comes from the route's service entry, else the Service port's appProtocol,
	// else its projectcontour.io/upstream-protocol.* annotation.
	Protocol Protocol `json:"protocol,omitempty"`
	// EDSName names the cluster's ClusterLoadAssignment: namespace/service/portName, or
	// namespace/service when the port has no name.
	EDSName string `json:"edsName"`
	// LoadBalancer is the strategy: "" (RoundRobin, Envoy's default), "RoundRobin" (a
	// RequestHash policy with no valid hash policy, as in Contour), "WeightedLeastRequest",
	// "Random", "Cookie" or "RequestHash".
	LoadBalancer string `json:"loadBalancer,omitempty"`
	// HealthCheck is the active HTTP health check.
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// UpstreamValidation verifies the upstream's certificate (protocols tls and h2 only).
	UpstreamValidation *UpstreamValidation `json:"upstreamValidation,omitempty"`
	// SNI is sent to TLS upstreams: the route's literal Host rewrite, if any.
	SNI string `json:"sni,omitempty"`
}

// HealthCheck is an active HTTP health check. Zero durations and thresholds mean the
// translator's defaults.
type HealthCheck struct {
	Path               string            `json:"path"`
	Host               string            `json:"host,omitempty"`
	Interval           metav1.Duration   `json:"interval,omitzero"`
	Timeout            metav1.Duration   `json:"timeout,omitzero"`
	UnhealthyThreshold uint32            `json:"unhealthyThreshold,omitempty"`
	HealthyThreshold   uint32            `json:"healthyThreshold,omitempty"`
	ExpectedStatuses   []HTTPStatusRange `json:"expectedStatuses,omitempty"`
}

// HTTPStatusRange is a half-open range [Start, End) of HTTP statuses.
type HTTPStatusRange struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// UpstreamValidation verifies an upstream certificate.
type UpstreamValidation struct {
	CASecret    Key    `json:"caSecret"`
	SubjectName string `json:"subjectName"`
}

// ClusterLoadAssignment is the endpoints of one EDS name.
type ClusterLoadAssignment struct {
	// Name is the EDS name (Cluster.EDSName).
	Name string `json:"name"`
	// Endpoints are sorted by address then port, without duplicates.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one upstream address.
type Endpoint struct {
	Address string `json:"address"`
	Port    int32  `json:"port"`
	// Ready is false for an endpoint that is serving but not ready (terminating): the
	// translator should mark it draining, so it gets traffic only as a last resort.
	Ready bool   `json:"ready"`
	Zone  string `json:"zone,omitempty"`
}

// Secret is a TLS secret the model references. Build never reads secret data: the caller
// fills Data (for example tls.crt, tls.key, ca.crt, ca.crl) before translation. A Secret
// may be shared by several vhosts and may be a new object after Replace.
type Secret struct {
	Name Key               `json:"name"`
	Data map[string][]byte `json:"-"`
}
