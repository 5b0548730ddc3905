package model

import (
	"crypto/sha1" //nolint:gosec // not for security: Contour's cluster names are sha1-based
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
)

// maxNameLength is the length Contour keeps cluster names under.
const maxNameLength = 60

// resolveService finds the Service and port a route's service entry names. Like
// Contour's LookupService, the port is matched by number and must be TCP; unlike Contour
// with enableExternalNameService, ExternalName Services are never resolved.
func resolveService(in Input, key Key, port int) (*corev1.Service, corev1.ServicePort, error) {
	svc, ok := in.Services[key]
	if !ok || svc == nil {
		return nil, corev1.ServicePort{}, fmt.Errorf("service %q not found", key)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, corev1.ServicePort{}, fmt.Errorf("%s is an ExternalName service, which the model does not support", key)
	}
	for _, p := range svc.Spec.Ports {
		if int(p.Port) != port {
			continue
		}
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			return nil, corev1.ServicePort{}, fmt.Errorf("unsupported service protocol %q", p.Protocol)
		}
		return svc, p, nil
	}
	return nil, corev1.ServicePort{}, fmt.Errorf("port \"%d\" on service %q not matched", port, key)
}

// serviceProtocol is the protocol of a route's service entry: its own protocol field,
// else the Service port's appProtocol, else the Service's
// projectcontour.io/upstream-protocol.{h2,h2c,tls} annotations (by port name, then number).
func serviceProtocol(s contourv1.Service, svc *corev1.Service, port corev1.ServicePort) (Protocol, error) {
	if s.Protocol != nil {
		switch p := Protocol(*s.Protocol); p {
		case ProtocolH2, ProtocolH2C, ProtocolTLS:
			return p, nil
		default:
			return "", fmt.Errorf("unsupported protocol: %v", *s.Protocol)
		}
	}
	if port.AppProtocol != nil {
		switch *port.AppProtocol {
		case "kubernetes.io/h2c":
			return ProtocolH2C, nil
		case "https":
			return ProtocolTLS, nil
		default: // "http", "kubernetes.io/ws" and anything unknown: HTTP/1
			return ProtocolHTTP1, nil
		}
	}
	byPort := map[string]Protocol{}
	for _, p := range []Protocol{ProtocolH2, ProtocolH2C, ProtocolTLS} {
		for _, v := range strings.Split(svc.Annotations["projectcontour.io/upstream-protocol."+string(p)], ",") {
			if v = strings.TrimSpace(v); v != "" {
				byPort[v] = p
			}
		}
	}
	if p, ok := byPort[port.Name]; ok && port.Name != "" {
		return p, nil
	}
	return byPort[strconv.Itoa(int(port.Port))], nil
}

// edsName is Contour's ClusterLoadAssignment name: namespace/service/portName, the port
// name left out when empty.
func edsName(svc Key, portName string) string {
	if portName == "" {
		return svc.String()
	}
	return svc.String() + "/" + portName
}

// clusterName is Contour's cluster name: namespace/service/port/hash, where hash is the
// first 10 hex digits of the SHA-1 of the settings that make clusters of one Service port
// differ (load-balancer strategy, health check, upstream validation CA name and subject,
// protocol, SNI), shortened to under 60 characters as Contour does.
func clusterName(c *Cluster) string {
	var b strings.Builder
	b.WriteString(c.LoadBalancer)
	if hc := c.HealthCheck; hc != nil {
		if hc.Timeout.Duration > 0 {
			b.WriteString(hc.Timeout.Duration.String())
		}
		if hc.Interval.Duration > 0 {
			b.WriteString(hc.Interval.Duration.String())
		}
		if hc.UnhealthyThreshold > 0 {
			b.WriteString(strconv.Itoa(int(hc.UnhealthyThreshold)))
		}
		if hc.HealthyThreshold > 0 {
			b.WriteString(strconv.Itoa(int(hc.HealthyThreshold)))
		}
		b.WriteString(hc.Path)
	}
	if uv := c.UpstreamValidation; uv != nil {
		b.WriteString(uv.CASecret.Name) // the name only, as Contour hashes it
		b.WriteString(uv.SubjectName)
	}
	b.WriteString(string(c.Protocol))
	b.WriteString(c.SNI)
	sum := sha1.Sum([]byte(b.String())) //nolint:gosec // a name, not a security hash
	hash := hex.EncodeToString(sum[:5])
	return hashName(maxNameLength, c.Service.Namespace, c.Service.Name, strconv.Itoa(int(c.Port)), hash)
}

// hashName joins parts with "/" and, when the result is limit characters or longer,
// shortens the parts from the last to the first (each to limit/len(parts) characters,
// ending in "-" and 6 hex digits of the SHA-256 of the whole name) until it fits, or
// returns that hash cut to limit. This is the naming scheme of Contour's Hashname, so
// that Warden's cluster names match Contour's.
func hashName(limit int, parts ...string) string {
	joined := strings.Join(parts, "/")
	if len(joined) < limit {
		return joined
	}
	sum := sha256.Sum256([]byte(joined))
	full := hex.EncodeToString(sum[:])
	short := full[:6]
	parts = append([]string(nil), parts...)
	for i := len(parts) - 1; i >= 0; i-- {
		parts[i] = shorten(limit/len(parts), parts[i], short)
		if joined = strings.Join(parts, "/"); len(joined) < limit {
			return joined
		}
	}
	return full[:min(len(full), limit)]
}

// shorten cuts s to n characters, ending in "-" and suffix.
func shorten(n int, s, suffix string) string {
	switch {
	case n >= len(s):
		return s
	case n <= len(suffix):
		return suffix[:n]
	default:
		return s[:n-len(suffix)-1] + "-" + suffix
	}
}
