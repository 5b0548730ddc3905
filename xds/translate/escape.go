package translate

import "strings"

// headerVariables are the Envoy command operators a header value set through HTTPProxy may
// use, as in Contour: request and connection properties a route owner may legitimately
// forward. Any other "%" is escaped, so a value can never make Envoy evaluate something
// else (or fail to parse the route).
var headerVariables = map[string]bool{
	"DOWNSTREAM_LOCAL_ADDRESS":               true,
	"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":  true,
	"DOWNSTREAM_LOCAL_PORT":                  true,
	"DOWNSTREAM_LOCAL_SUBJECT":               true,
	"DOWNSTREAM_LOCAL_URI_SAN":               true,
	"DOWNSTREAM_PEER_CERT":                   true,
	"DOWNSTREAM_PEER_CERT_V_END":             true,
	"DOWNSTREAM_PEER_CERT_V_START":           true,
	"DOWNSTREAM_PEER_FINGERPRINT_1":          true,
	"DOWNSTREAM_PEER_FINGERPRINT_256":        true,
	"DOWNSTREAM_PEER_ISSUER":                 true,
	"DOWNSTREAM_PEER_SERIAL":                 true,
	"DOWNSTREAM_PEER_SUBJECT":                true,
	"DOWNSTREAM_PEER_URI_SAN":                true,
	"DOWNSTREAM_REMOTE_ADDRESS":              true,
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": true,
	"DOWNSTREAM_TLS_CIPHER":                  true,
	"DOWNSTREAM_TLS_SESSION_ID":              true,
	"DOWNSTREAM_TLS_VERSION":                 true,
	"HOSTNAME":                               true,
	"PROTOCOL":                               true,
	"REQUESTED_SERVER_NAME":                  true,
	"UPSTREAM_REMOTE_ADDRESS":                true,
}

// escapeHeaderValue makes a literal header value safe for Envoy's substitution format: a
// "%" that does not start one of headerVariables ("%NAME%") or a request header
// ("%REQ(name)%") becomes "%%". The model keeps values verbatim and leaves this to the
// translator.
func escapeHeaderValue(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	var b strings.Builder
	for len(v) > 0 {
		i := strings.IndexByte(v, '%')
		if i < 0 {
			b.WriteString(v)
			break
		}
		b.WriteString(v[:i])
		v = v[i:]
		if n := variableLen(v); n > 0 {
			b.WriteString(v[:n])
			v = v[n:]
			continue
		}
		b.WriteString("%%")
		v = v[1:]
	}
	return b.String()
}

// variableLen is the length of the allowed variable v starts with, or 0.
func variableLen(v string) int {
	end := strings.IndexByte(v[1:], '%')
	if end < 0 {
		return 0
	}
	name := v[1 : 1+end]
	if headerVariables[name] {
		return end + 2
	}
	if arg, ok := strings.CutPrefix(name, "REQ("); ok && strings.HasSuffix(arg, ")") && isHeaderName(arg[:len(arg)-1]) {
		return end + 2
	}
	return 0
}

// isHeaderName reports whether s is a non-empty HTTP header name (a token), optionally a
// pseudo-header such as ":authority".
func isHeaderName(s string) bool {
	s = strings.TrimPrefix(s, ":")
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
