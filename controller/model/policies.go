package model

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// hostRewriteHeader matches "%REQ(header)%", a Host rewrite from another request header.
var hostRewriteHeader = regexp.MustCompile(`%REQ\(([A-Za-z0-9-]+)\)%`)

// headersPolicy converts a route header policy. Names are canonicalised; duplicates and
// invalid names are errors; Host may be set on request headers only, where it becomes a
// host rewrite (literal, or from another header with "%REQ(header)%"). Values are kept
// verbatim.
func headersPolicy(hp *contourv1.HeadersPolicy, allowHost bool) (*HeadersPolicy, error) {
	if hp == nil || (len(hp.Set) == 0 && len(hp.Remove) == 0) {
		return nil, nil
	}
	out := &HeadersPolicy{}
	for _, h := range hp.Set {
		key := http.CanonicalHeaderKey(h.Name)
		if _, dup := out.Set[key]; dup {
			return nil, fmt.Errorf("duplicate header addition: %q", key)
		}
		if key == "Host" {
			if !allowHost {
				return nil, fmt.Errorf("rewriting %q header is not supported", key)
			}
			if m := hostRewriteHeader.FindStringSubmatch(h.Value); m != nil {
				out.HostRewriteHeader = http.CanonicalHeaderKey(strings.TrimSpace(m[1]))
			} else {
				out.HostRewrite = h.Value
			}
			continue
		}
		if msgs := validation.IsHTTPHeaderName(key); len(msgs) != 0 {
			return nil, fmt.Errorf("invalid set header %q: %v", key, msgs)
		}
		if out.Set == nil {
			out.Set = map[string]string{}
		}
		out.Set[key] = h.Value
	}
	for _, name := range hp.Remove {
		key := http.CanonicalHeaderKey(name)
		if slices.Contains(out.Remove, key) {
			return nil, fmt.Errorf("duplicate header removal: %q", key)
		}
		if msgs := validation.IsHTTPHeaderName(key); len(msgs) != 0 {
			return nil, fmt.Errorf("invalid remove header %q: %v", key, msgs)
		}
		out.Remove = append(out.Remove, key)
	}
	slices.Sort(out.Remove)
	return out, nil
}

// redirect converts a requestRedirectPolicy.
func redirect(rp *contourv1.HTTPRequestRedirectPolicy) (*Redirect, error) {
	if rp.Path != nil && rp.Prefix != nil {
		return nil, errors.New("route.requestRedirectPolicy is invalid: cannot specify both redirect path and redirect prefix")
	}
	out := &Redirect{
		Scheme:   deref(rp.Scheme),
		Hostname: deref(rp.Hostname),
		Path:     deref(rp.Path),
		Prefix:   deref(rp.Prefix),
	}
	if rp.Port != nil && *rp.Port > 0 {
		out.Port = uint32(*rp.Port)
	}
	if rp.StatusCode != nil {
		out.StatusCode = int(*rp.StatusCode)
	}
	return out, nil
}

// timeouts parses a timeoutPolicy: "" keeps Envoy's default (nil), "infinity" or
// "infinite" disables (0s), otherwise a Go duration ("0s" also means the default).
// idleConnection is parsed for errors but not modelled.
func timeouts(tp *contourv1.TimeoutPolicy) (*Timeouts, error) {
	if tp == nil {
		return nil, nil
	}
	resp, err := parseTimeout(tp.Response)
	if err != nil {
		return nil, fmt.Errorf("error parsing response timeout: %w", err)
	}
	idle, err := parseTimeout(tp.Idle)
	if err != nil {
		return nil, fmt.Errorf("error parsing idle timeout: %w", err)
	}
	if _, err := parseTimeout(tp.IdleConnection); err != nil {
		return nil, fmt.Errorf("error parsing idle connection timeout: %w", err)
	}
	if resp == nil && idle == nil {
		return nil, nil
	}
	return &Timeouts{Response: resp, Idle: idle}, nil
}

func parseTimeout(s string) (*metav1.Duration, error) {
	switch s {
	case "":
		return nil, nil
	case "infinity", "infinite":
		return &metav1.Duration{}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("unable to parse timeout string %q: %w", s, err)
	}
	if d <= 0 {
		return nil, nil
	}
	return &metav1.Duration{Duration: d}, nil
}

// retry converts a retryPolicy as Contour does: count -1 means no retries, 0 or unset
// means 1; an unparsable or non-positive perTryTimeout keeps Envoy's default; retryOn
// defaults to 5xx.
func retry(rp *contourv1.RetryPolicy) *Retry {
	if rp == nil {
		return nil
	}
	out := &Retry{Count: 1, RetryOn: []string{"5xx"}, RetriableStatusCodes: slices.Clone(rp.RetriableStatusCodes)}
	switch {
	case rp.NumRetries < 0:
		out.Count = 0
	case rp.NumRetries > 1:
		out.Count = uint32(min(rp.NumRetries, 1<<32-1))
	}
	if d, err := time.ParseDuration(rp.PerTryTimeout); err == nil && d > 0 {
		out.PerTryTimeout = &metav1.Duration{Duration: d}
	}
	if len(rp.RetryOn) > 0 {
		out.RetryOn = make([]string, len(rp.RetryOn))
		for i, r := range rp.RetryOn {
			out.RetryOn[i] = string(r)
		}
	}
	return out
}

// prefixRewrite chooses a route's prefix replacement as Contour does: the entry whose
// prefix equals the route's merged prefix, else the entry without a prefix, else none.
// Replacements need a prefix route and distinct prefixes.
func prefixRewrite(prp *contourv1.PathRewritePolicy, path PathMatch) (string, error) {
	if prp == nil || len(prp.ReplacePrefix) == 0 {
		return "", nil
	}
	if path.Kind != PathPrefix {
		return "", errors.New("cannot specify prefix replacements without a prefix condition")
	}
	seen := map[string]bool{}
	for _, r := range prp.ReplacePrefix {
		if seen[r.Prefix] {
			if r.Prefix != "" {
				return "", fmt.Errorf("duplicate replacement prefix '%s'", r.Prefix)
			}
			return "", errors.New("ambiguous prefix replacement")
		}
		seen[r.Prefix] = true
	}
	for _, r := range prp.ReplacePrefix {
		if r.Prefix != "" && r.Prefix == path.Value {
			return r.Replacement, nil
		}
	}
	for _, r := range prp.ReplacePrefix {
		if r.Prefix == "" {
			return r.Replacement, nil
		}
	}
	return "", nil
}

// healthCheck converts a healthCheckPolicy; expected status ranges are half-open and
// must lie within [100, 600].
func healthCheck(hc *contourv1.HTTPHealthCheckPolicy) (*HealthCheck, error) {
	if hc == nil {
		return nil, nil
	}
	out := &HealthCheck{
		Path:               hc.Path,
		Host:               hc.Host,
		Interval:           metav1.Duration{Duration: time.Duration(max(hc.IntervalSeconds, 0)) * time.Second},
		Timeout:            metav1.Duration{Duration: time.Duration(max(hc.TimeoutSeconds, 0)) * time.Second},
		UnhealthyThreshold: uint32(min(max(hc.UnhealthyThresholdCount, 0), 1<<32-1)),
		HealthyThreshold:   uint32(min(max(hc.HealthyThresholdCount, 0), 1<<32-1)),
	}
	for _, r := range hc.ExpectedStatuses {
		if r.Start < 100 || r.Start > 599 {
			return nil, errors.New("invalid expected status range: start must be in the range [100, 599]")
		}
		if r.End < 101 || r.End > 600 {
			return nil, errors.New("invalid expected status range: end must be in the range [101, 600]")
		}
		out.ExpectedStatuses = append(out.ExpectedStatuses, HTTPStatusRange{Start: r.Start, End: r.End})
	}
	return out, nil
}

// Load-balancer strategies.
const (
	lbRoundRobin  = "RoundRobin"
	lbLeastReq    = "WeightedLeastRequest"
	lbRandom      = "Random"
	lbCookie      = "Cookie"
	lbRequestHash = "RequestHash"
)

// loadBalancer returns a route's strategy and hash policies as Contour does: RoundRobin
// and unknown strategies are "" (Envoy's default); Cookie hashes the
// X-Contour-Session-Affinity cookie; RequestHash keeps its valid hash policies (exactly
// one attribute each, no repeated source IP, header or parameter) and, with none, falls
// back to "RoundRobin". Ignored hash policies are reported in Problems.
func (b *treeBuilder) loadBalancer(owner Key, idx int, lbp *contourv1.LoadBalancerPolicy) (string, []HashPolicy) {
	if lbp == nil {
		return "", nil
	}
	switch lbp.Strategy {
	case lbLeastReq, lbRandom:
		return lbp.Strategy, nil
	case lbCookie:
		return lbCookie, []HashPolicy{{Cookie: &HashCookie{Name: "X-Contour-Session-Affinity", Path: "/"}}}
	case lbRequestHash:
	default:
		return "", nil
	}
	var out []HashPolicy
	seen := map[string]bool{}
	for i, hp := range lbp.RequestHashPolicies {
		p, id, err := hashPolicy(hp)
		if err == nil && seen[id] {
			err = fmt.Errorf("%s specified more than once", id)
		}
		if err != nil {
			b.problemf(owner, "spec.routes[%d].loadBalancerPolicy.requestHashPolicies[%d]: %v: ignored", idx, i, err)
			continue
		}
		seen[id] = true
		out = append(out, p)
	}
	if len(out) == 0 {
		b.problemf(owner, "spec.routes[%d].loadBalancerPolicy: no valid request hash policy: strategy RoundRobin", idx)
		return lbRoundRobin, nil
	}
	return lbRequestHash, out
}

// hashPolicy converts one request hash policy; id identifies the hashed attribute.
func hashPolicy(hp contourv1.RequestHashPolicy) (p HashPolicy, id string, err error) {
	n := 0
	p.Terminal = hp.Terminal
	if hp.HashSourceIP {
		n++
		p.SourceIP, id = true, "hashSourceIP"
	}
	if o := hp.HeaderHashOptions; o != nil {
		n++
		p.Header = http.CanonicalHeaderKey(o.HeaderName)
		id = "header " + p.Header
		if msgs := validation.IsHTTPHeaderName(p.Header); len(msgs) != 0 {
			return p, id, fmt.Errorf("invalid header name %q", p.Header)
		}
	}
	if o := hp.QueryParameterHashOptions; o != nil {
		n++
		p.QueryParameter = strings.ToLower(o.ParameterName)
		id = "query parameter " + p.QueryParameter
		if p.QueryParameter == "" {
			return p, id, errors.New("empty query parameter name")
		}
	}
	if n != 1 {
		return p, id, errors.New("must set exactly one of hashSourceIP or headerHashOptions or queryParameterHashOptions")
	}
	return p, id, nil
}
