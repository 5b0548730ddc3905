package model

import (
	"fmt"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
)

// notes records, in Unsupported, each field of p that the model does not carry, so that
// nothing an accepted HTTPProxy asks for is dropped silently.
func (b *treeBuilder) notes(p *contourv1.HTTPProxy) {
	note := func(format string, args ...any) {
		b.unsupported = append(b.unsupported, KeyOf(p).String()+": "+fmt.Sprintf(format, args...)+" is not modelled")
	}
	if p.Spec.TCPProxy != nil {
		note("spec.tcpproxy (HTTPS is not served for this vhost)")
	}
	if vh := p.Spec.VirtualHost; vh != nil {
		vhostNotes(vh, note)
	}
	for i, r := range p.Spec.Routes {
		routeNotes(r, func(field string) { note("spec.routes[%d].%s", i, field) })
		for j, s := range r.Services {
			serviceNotes(s, func(field string) { note("spec.routes[%d].services[%d].%s", i, j, field) })
		}
	}
}

func vhostNotes(vh *contourv1.VirtualHost, note func(string, ...any)) {
	for _, f := range []struct {
		set   bool
		field string
	}{
		{vh.Authorization != nil, "authorization"},
		{vh.CORSPolicy != nil, "corsPolicy"},
		{vh.RateLimitPolicy != nil, "rateLimitPolicy"},
		{len(vh.JWTProviders) > 0, "jwtProviders"},
		{len(vh.IPAllowFilterPolicy) > 0, "ipAllowPolicy"},
		{len(vh.IPDenyFilterPolicy) > 0, "ipDenyPolicy"},
		{vh.TLS != nil && vh.TLS.Passthrough, "tls.passthrough (HTTPS is not served for this vhost)"},
	} {
		if f.set {
			note("spec.virtualhost.%s", f.field)
		}
	}
}

func routeNotes(r contourv1.Route, note func(string)) {
	for _, f := range []struct {
		set   bool
		field string
	}{
		{r.AuthPolicy != nil, "authPolicy"},
		{len(r.CookieRewritePolicies) > 0, "cookieRewritePolicies"},
		{r.RateLimitPolicy != nil, "rateLimitPolicy"},
		{r.InternalRedirectPolicy != nil, "internalRedirectPolicy"},
		{r.JWTVerificationPolicy != nil, "jwtVerificationPolicy"},
		{len(r.IPAllowFilterPolicy) > 0, "ipAllowPolicy"},
		{len(r.IPDenyFilterPolicy) > 0, "ipDenyPolicy"},
		{r.TimeoutPolicy != nil && r.TimeoutPolicy.IdleConnection != "", "timeoutPolicy.idleConnection"},
	} {
		if f.set {
			note(f.field)
		}
	}
}

func serviceNotes(s contourv1.Service, note func(string)) {
	for _, f := range []struct {
		set   bool
		field string
	}{
		{s.RequestHeadersPolicy != nil, "requestHeadersPolicy"},
		{s.ResponseHeadersPolicy != nil, "responseHeadersPolicy"},
		{len(s.CookieRewritePolicies) > 0, "cookieRewritePolicies"},
		{s.SlowStartPolicy != nil, "slowStartPolicy"},
		{s.HealthPort != 0, "healthPort"},
		{s.UpstreamValidation != nil && len(s.UpstreamValidation.SubjectNames) > 1, "validation.subjectNames beyond the first"},
	} {
		if f.set {
			note(f.field)
		}
	}
}
