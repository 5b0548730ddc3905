package model

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Part is what one root's include tree contributes to a Model: its vhost and the clusters,
// endpoints and secrets that vhost uses, the objects the tree depends on, and its notes.
// BuildVirtualHost makes one; Model.Replace swaps it in.
type Part struct {
	// FQDN is the vhost's fqdn, lower-cased.
	FQDN string
	// VirtualHost is nil when the root cannot be served (see Problems).
	VirtualHost *VirtualHost
	// Clusters, Endpoints and Secrets are those VirtualHost uses, sorted by name.
	Clusters  []*Cluster
	Endpoints []*ClusterLoadAssignment
	Secrets   []*Secret
	// Proxies, Services and SecretRefs are every object the tree references, found or
	// not, sorted: the vhost must be rebuilt when one of them changes.
	Proxies    []Key
	Services   []Key
	SecretRefs []Key
	// Unsupported and Problems are the tree's notes (see Model), sorted.
	Unsupported []string
	Problems    []string
}

// Build builds the model of the accepted set: one vhost per fqdn of in.Roots, each from
// its root's include tree. It is a pure function of its arguments.
func Build(in Input, opts Options) *Model {
	byFQDN := map[string][]*contourv1.HTTPProxy{}
	for _, r := range in.Roots {
		if fqdn := rootFQDN(r); fqdn != "" {
			byFQDN[fqdn] = append(byFQDN[fqdn], r)
		}
	}
	m := &Model{}
	for _, fqdn := range slices.Sorted(maps.Keys(byFQDN)) {
		m.Replace(fqdn, buildFQDN(fqdn, byFQDN[fqdn], in, opts))
	}
	return m
}

// Rebuild rebuilds the vhosts of the given fqdns from in, as Build would, and removes those
// no root claims any more. Use Index to find the fqdns a change affects, plus the new
// fqdn of a changed root.
func (m *Model) Rebuild(in Input, opts Options, fqdns ...string) {
	for _, fqdn := range fqdns {
		fqdn = strings.ToLower(fqdn)
		var roots []*contourv1.HTTPProxy
		for _, r := range in.Roots {
			// EqualFold is a cheap filter; rootFQDN decides, exactly as Build groups.
			if r != nil && r.Spec.VirtualHost != nil && strings.EqualFold(r.Spec.VirtualHost.Fqdn, fqdn) && rootFQDN(r) == fqdn {
				roots = append(roots, r)
			}
		}
		if len(roots) == 0 {
			m.Replace(fqdn, nil)
			continue
		}
		m.Replace(fqdn, buildFQDN(fqdn, roots, in, opts))
	}
}

// buildFQDN builds the part of the oldest of the roots claiming fqdn (creation timestamp,
// then namespace/name: Warden's first-come ownership) and reports the others.
func buildFQDN(fqdn string, roots []*contourv1.HTTPProxy, in Input, opts Options) *Part {
	roots = slices.Clone(roots)
	slices.SortFunc(roots, func(a, b *contourv1.HTTPProxy) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), KeyOf(a).Compare(KeyOf(b)))
	})
	p := BuildVirtualHost(roots[0], in, opts)
	for _, loser := range roots[1:] {
		p.Problems = append(p.Problems, fmt.Sprintf("%s: fqdn %q is owned by %s: root ignored", KeyOf(loser), fqdn, KeyOf(roots[0])))
		p.Proxies = append(p.Proxies, KeyOf(loser))
	}
	p.Problems = sortedUnique(p.Problems)
	p.Proxies = sortedUniqueKeys(p.Proxies)
	return p
}

// rootFQDN is a root's fqdn, lower-cased, or "" for an object that is not a root.
func rootFQDN(r *contourv1.HTTPProxy) string {
	if r == nil || r.Spec.VirtualHost == nil {
		return ""
	}
	return strings.ToLower(r.Spec.VirtualHost.Fqdn)
}

// BuildVirtualHost builds what root's include tree contributes to the model, for
// rebuilding one vhost after a change (see Model.Replace). It returns nil if root has no
// virtualhost fqdn. It does not check that root owns its fqdn.
func BuildVirtualHost(root *contourv1.HTTPProxy, in Input, opts Options) *Part {
	fqdn := rootFQDN(root)
	if fqdn == "" {
		return nil
	}
	b := &treeBuilder{
		in: in, opts: opts, root: root, fqdn: fqdn,
		clusters: map[string]*Cluster{},
		proxies:  sets.New(KeyOf(root)), services: sets.New[Key](), secrets: sets.New[Key](),
	}
	return b.build()
}

// treeBuilder walks one root's include tree.
type treeBuilder struct {
	in   Input
	opts Options
	root *contourv1.HTTPProxy
	fqdn string

	// enforceTLS: the root terminates TLS (or passes it through), so routes redirect
	// HTTP to HTTPS unless they are permitInsecure.
	enforceTLS bool
	// clusters are those routes resolved, by name; only those the final routes use are
	// kept.
	clusters map[string]*Cluster

	proxies, services, secrets sets.Set[Key]
	unsupported, problems      []string
}

func (b *treeBuilder) build() *Part {
	rootKey := KeyOf(b.root)
	vh := &VirtualHost{FQDN: b.fqdn, Root: rootKey}
	p := &Part{FQDN: b.fqdn}
	tls, ok := b.tls()
	if ok && b.root.Spec.TCPProxy != nil {
		if !b.enforceTLS {
			b.problemf(rootKey, "spec.tcpproxy requires spec.virtualhost.tls with passthrough or secretName: vhost not served")
			ok = false
		}
		// The HTTPS side of the vhost is the TCP proxy, which is not modelled: the routes
		// are served on HTTP only (§2.6), so the model carries no TLS for it.
		tls = nil
	}
	if ok {
		vh.TLS = tls
		vh.Routes = sortRoutes(expandPrefixRewrites(b.walk(b.root, nil, nil)))
		if len(vh.Routes) == 0 {
			b.problemf(rootKey, "no route in the include tree: vhost %q not served", b.fqdn)
		}
	} else {
		b.notes(b.root) // the tree is not walked, but the root's own notes still apply
	}
	if ok && len(vh.Routes) > 0 {
		p.VirtualHost = vh
		p.Clusters, p.Endpoints, p.Secrets = b.collect(vh)
	}
	p.Proxies = sortedUniqueKeys(b.proxies.UnsortedList())
	p.Services = sortedUniqueKeys(b.services.UnsortedList())
	p.SecretRefs = sortedUniqueKeys(b.secrets.UnsortedList())
	p.Unsupported = sortedUnique(b.unsupported)
	p.Problems = sortedUnique(b.problems)
	return p
}

// requireSecret records a dependency on a secret and reports whether it exists.
func (b *treeBuilder) requireSecret(k Key) bool {
	b.secrets.Insert(k)
	return b.in.Secrets.Has(k)
}

func (b *treeBuilder) problemf(k Key, format string, args ...any) {
	b.problems = append(b.problems, k.String()+": "+fmt.Sprintf(format, args...))
}

// tls builds the root's TLS settings. ok is false when the vhost must not be served at
// all, as Contour does for TLS errors: neither port 80 nor 443 (§2.5).
func (b *treeBuilder) tls() (_ *TLS, ok bool) {
	root, rootKey := b.root, KeyOf(b.root)
	t := root.Spec.VirtualHost.TLS
	switch {
	case t == nil:
		return nil, true
	case t.Passthrough && t.SecretName != "":
		b.problemf(rootKey, "spec.virtualhost.tls: both passthrough and secretName are set: vhost not served")
		return nil, false
	case t.Passthrough:
		// The TLS stream goes to a TCPProxy, which is not modelled; the routes still
		// only redirect to HTTPS (§2.6).
		b.enforceTLS = true
		return nil, true
	case t.SecretName == "":
		b.problemf(rootKey, "spec.virtualhost.tls: neither passthrough nor secretName is set: vhost not served")
		return nil, false
	}
	out := &TLS{
		SecretRef:  refKey(t.SecretName, root.Namespace),
		MinVersion: tlsVersion(t.MinimumProtocolVersion, "1.2"),
		MaxVersion: tlsVersion(t.MaximumProtocolVersion, "1.3"),
	}
	if !b.requireSecret(out.SecretRef) {
		b.problemf(rootKey, "spec.virtualhost.tls: secret %s not found: vhost not served", out.SecretRef)
		return nil, false
	}
	if out.MinVersion > out.MaxVersion {
		b.problemf(rootKey, "spec.virtualhost.tls: the minimum protocol version is greater than the maximum: vhost not served")
		return nil, false
	}
	if out.ClientValidation, ok = b.clientValidation(t.ClientValidation); !ok {
		return nil, false
	}
	if t.EnableFallbackCertificate {
		if !b.fallbackUsable(out) {
			return nil, false
		}
		out.FallbackCertificate = b.opts.FallbackCertificate
	}
	b.enforceTLS = true
	return out, true
}

func tlsVersion(v, def string) string {
	if v == "1.2" || v == "1.3" {
		return v
	}
	return def
}

func (b *treeBuilder) clientValidation(cv *contourv1.DownstreamValidation) (_ *ClientValidation, ok bool) {
	if cv == nil {
		return nil, true
	}
	rootKey := KeyOf(b.root)
	out := &ClientValidation{
		SkipVerify:         cv.SkipClientCertValidation,
		CRLOnlyVerifyLeaf:  cv.OnlyVerifyLeafCertCrl,
		OptionalClientCert: cv.OptionalClientCertificate,
	}
	if f := cv.ForwardClientCertificate; f != nil {
		out.ForwardClientCert = &ForwardClientCert{Subject: f.Subject, Cert: f.Cert, Chain: f.Chain, DNS: f.DNS, URI: f.URI}
	}
	switch {
	case cv.CACertificate != "":
		out.CASecret = refKey(cv.CACertificate, b.root.Namespace)
		if !b.requireSecret(out.CASecret) {
			b.problemf(rootKey, "spec.virtualhost.tls.clientValidation: CA secret %s not found: vhost not served", out.CASecret)
			return nil, false
		}
	case !cv.SkipClientCertValidation:
		b.problemf(rootKey, "spec.virtualhost.tls.clientValidation: a CA secret must be specified: vhost not served")
		return nil, false
	}
	if cv.CertificateRevocationList != "" {
		out.CRLSecret = refKey(cv.CertificateRevocationList, b.root.Namespace)
		if !b.requireSecret(out.CRLSecret) {
			b.problemf(rootKey, "spec.virtualhost.tls.clientValidation: CRL secret %s not found: vhost not served", out.CRLSecret)
			return nil, false
		}
	}
	return out, true
}

// fallbackUsable checks the fallback certificate a vhost asks for (§2.5).
func (b *treeBuilder) fallbackUsable(t *TLS) bool {
	rootKey := KeyOf(b.root)
	switch {
	case t.ClientValidation != nil:
		b.problemf(rootKey, "spec.virtualhost.tls: fallback certificate and client validation are incompatible: vhost not served")
		return false
	case b.opts.FallbackCertificate.IsZero():
		b.problemf(rootKey, "spec.virtualhost.tls: fallback certificate enabled but none is configured: vhost not served")
		return false
	case !b.requireSecret(b.opts.FallbackCertificate):
		b.problemf(rootKey, "spec.virtualhost.tls: fallback certificate secret %s not found: vhost not served", b.opts.FallbackCertificate)
		return false
	}
	return true
}

// walk returns the routes of p and of the proxies it includes, depth first as Contour's
// computeRoutes: includes first, each with its conditions appended to conds, then p's own
// routes. path holds the proxies from the root to p's includer, for cycle detection.
//
// An error in one of p's routes drops everything p contributes in this traversal,
// included routes too, as Contour does (§2.3 effect R).
func (b *treeBuilder) walk(p *contourv1.HTTPProxy, conds []contourv1.MatchCondition, path []Key) []*Route {
	key := KeyOf(p)
	if slices.Contains(path, key) {
		b.problemf(key, "include creates an include cycle: %s: not followed", joinKeys(append(path, key)))
		return nil
	}
	path = append(path, key)
	b.notes(p)
	var routes []*Route
	seen := map[string]bool{}
	for i, inc := range p.Spec.Includes {
		routes = append(routes, b.include(p, i, inc, conds, path, seen)...)
	}
	for i, r := range p.Spec.Routes {
		route, err := b.route(p, i, r, conds)
		if err != nil {
			b.problemf(key, "spec.routes[%d]: %v: its routes are dropped from vhost %q", i, err, b.fqdn)
			return nil
		}
		routes = append(routes, route)
	}
	return routes
}

// include returns the routes of p's i-th include: the target's tree, or a 502 route for
// the include's merged conditions when the target is missing or a root and the include
// has conditions (§2.3 rules 5 and 6). Invalid and duplicate includes are skipped.
//
// Deviation: Contour's 502 route matches the include's own conditions only, which lets a
// child claim paths outside the prefix delegated to it; the model merges the chain.
func (b *treeBuilder) include(p *contourv1.HTTPProxy, i int, inc contourv1.Include, conds []contourv1.MatchCondition, path []Key, seen map[string]bool) []*Route {
	key := KeyOf(p)
	target := Key{Namespace: cmp.Or(inc.Namespace, p.Namespace), Name: inc.Name}
	b.proxies.Insert(target)
	if err := checkIncludeConditions(inc.Conditions); err != nil {
		b.problemf(key, "spec.includes[%d]: %v: include ignored", i, err)
		return nil
	}
	if k, ok := includeConditionsKey(inc.Conditions); ok {
		if seen[k] {
			b.problemf(key, "spec.includes[%d]: duplicate conditions defined on an include: include ignored", i)
			return nil
		}
		seen[k] = true
	}
	merged := slices.Concat(conds, inc.Conditions)
	child, found := b.in.Proxies[target]
	switch {
	case !found || child == nil:
		b.problemf(key, "spec.includes[%d]: include %s not found%s", i, target, badGatewayNote(inc))
	case child.Spec.VirtualHost != nil:
		b.problemf(key, "spec.includes[%d]: root httpproxy cannot include another root httpproxy (%s)%s", i, target, badGatewayNote(inc))
	default:
		return b.walk(child, merged, path)
	}
	if len(inc.Conditions) == 0 {
		return nil
	}
	return []*Route{b.badGateway(key, i, merged)}
}

func badGatewayNote(inc contourv1.Include) string {
	if len(inc.Conditions) == 0 {
		return ": include ignored"
	}
	return ": 502 for its conditions"
}

// badGateway is the 502 route standing in for a broken include. Like Contour's, it never
// redirects to HTTPS.
func (b *treeBuilder) badGateway(owner Key, i int, merged []contourv1.MatchCondition) *Route {
	path, _ := mergePath(merged) // include conditions are prefixes only: no error
	return &Route{
		Owner:          owner,
		Origin:         Origin{Field: "includes", Index: i},
		PathMatch:      path,
		Headers:        b.headerMatches(merged),
		QueryParams:    queryMatches(merged),
		DirectResponse: &DirectResponse{Status: 502},
	}
}

// headerMatches converts a chain's header conditions and, for a wildcard fqdn, adds the
// ":authority" match that limits the wildcard to one DNS label, as Contour does.
func (b *treeBuilder) headerMatches(conds []contourv1.MatchCondition) []HeaderMatch {
	h := headerMatches(conds)
	if rest, ok := strings.CutPrefix(b.fqdn, "*"); ok {
		h = append(h, HeaderMatch{
			Name:  ":authority",
			Kind:  HeaderRegex,
			Value: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?" + regexp.QuoteMeta(rest) + "(:[0-9]+)?",
		})
		slices.SortStableFunc(h, compareHeaders)
	}
	return h
}

// collect returns the clusters the vhost's routes use, their load assignments and the
// secrets the vhost and clusters reference, each sorted by name.
func (b *treeBuilder) collect(vh *VirtualHost) ([]*Cluster, []*ClusterLoadAssignment, []*Secret) {
	used := map[string]*Cluster{}
	for _, r := range vh.Routes {
		if r.Forward == nil {
			continue
		}
		for _, wc := range r.Forward.Clusters {
			used[wc.ClusterName] = b.clusters[wc.ClusterName]
		}
		if mr := r.Forward.Mirror; mr != nil {
			used[mr.ClusterName] = b.clusters[mr.ClusterName]
		}
	}
	var clusters []*Cluster
	las := map[string]*ClusterLoadAssignment{}
	secrets := sets.New[Key]()
	for _, name := range slices.Sorted(maps.Keys(used)) {
		c := used[name]
		clusters = append(clusters, c)
		if las[c.EDSName] == nil {
			las[c.EDSName] = buildLoadAssignment(b.in, c.EDSName, c.Service, c.PortName)
		}
		if c.UpstreamValidation != nil {
			secrets.Insert(c.UpstreamValidation.CASecret)
		}
	}
	if t := vh.TLS; t != nil {
		secrets.Insert(t.SecretRef)
		if cv := t.ClientValidation; cv != nil {
			secrets.Insert(cv.CASecret, cv.CRLSecret)
		}
		secrets.Insert(t.FallbackCertificate)
	}
	secrets.Delete(Key{})
	var out []*Secret
	for _, k := range sortedUniqueKeys(secrets.UnsortedList()) {
		out = append(out, &Secret{Name: k})
	}
	var outLAs []*ClusterLoadAssignment
	for _, name := range slices.Sorted(maps.Keys(las)) {
		outLAs = append(outLAs, las[name])
	}
	return clusters, outLAs, out
}

func joinKeys(keys []Key) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, " -> ")
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func sortedUniqueKeys(s []Key) []Key {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.SortFunc(s, Key.Compare)
	return slices.Compact(s)
}
