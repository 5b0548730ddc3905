// Package config reads warden.yaml, Warden's configuration file. Unknown keys and bad values
// are errors that name the file and line, because a typo in a security setting must never
// be silently ignored.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/projectwarden/warden/policy"
)

// Config is the content of warden.yaml.
type Config struct {
	// HTTPProxy holds the delegation rules for HTTPProxy objects.
	HTTPProxy HTTPProxy `json:"httpproxy"`
}

// HTTPProxy configures how HTTPProxies are judged.
type HTTPProxy struct {
	// RootNamespaces lists the namespaces that may hold root HTTPProxies. Empty or absent:
	// every namespace may.
	RootNamespaces []string `json:"rootNamespaces,omitempty"`
	// DisablePermitInsecure denies permitInsecure: true at admission and ignores it, with a
	// status warning, on stored objects. Default false.
	DisablePermitInsecure bool `json:"disablePermitInsecure,omitempty"`
	// FallbackCertificate is the Secret served to TLS clients without SNI by vhosts that set
	// enableFallbackCertificate. Optional.
	FallbackCertificate *SecretRef `json:"fallbackCertificate,omitempty"`
	// IngressClassName is set on HTTPProxies that leave spec.ingressClassName empty, by the
	// mutating webhook. Optional.
	IngressClassName string `json:"ingressClassName,omitempty"`
}

// SecretRef names a Secret.
type SecretRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Default returns the configuration used when no file is given.
func Default() *Config { return &Config{} }

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, b)
}

// Error is a configuration problem at a place in the file.
type Error struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Parse decodes and validates a configuration file's content; file names it in errors.
func Parse(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: file, Err: err}
	}
	js, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	c := Default()
	if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
		return c, nil
	}
	strict, err := sigsjson.UnmarshalStrict(js, c, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, &Error{File: file, Err: fmt.Errorf("invalid value: %w", err)}
	}
	if len(strict) > 0 {
		field := fieldOf(strict[0])
		return nil, &Error{File: file, Line: lineOf(&root, field), Err: fmt.Errorf("unknown key %q", field)}
	}
	if path, err := c.validate(); err != nil {
		return nil, &Error{File: file, Line: lineOf(&root, path), Err: err}
	}
	return c, nil
}

// fieldOf extracts the dotted field path from a strict decoding error.
func fieldOf(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `"`); i >= 0 {
		if j := strings.LastIndex(msg, `"`); j > i {
			return msg[i+1 : j]
		}
	}
	return msg
}

// validate returns the dotted path of the first bad value and why.
func (c *Config) validate() (string, error) {
	h := c.HTTPProxy
	for i, ns := range h.RootNamespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return "httpproxy.rootNamespaces", fmt.Errorf("httpproxy.rootNamespaces[%d]: %q is not a namespace name: %s", i, ns, strings.Join(errs, "; "))
		}
		if slices.Contains(h.RootNamespaces[:i], ns) {
			return "httpproxy.rootNamespaces", fmt.Errorf("httpproxy.rootNamespaces[%d]: %q is listed twice", i, ns)
		}
	}
	if f := h.FallbackCertificate; f != nil {
		if f.Namespace == "" || f.Name == "" {
			return "httpproxy.fallbackCertificate", errors.New("httpproxy.fallbackCertificate needs both namespace and name")
		}
		if errs := validation.IsDNS1123Label(f.Namespace); len(errs) > 0 {
			return "httpproxy.fallbackCertificate.namespace", fmt.Errorf("httpproxy.fallbackCertificate.namespace %q is not a namespace name", f.Namespace)
		}
		if errs := validation.IsDNS1123Subdomain(f.Name); len(errs) > 0 {
			return "httpproxy.fallbackCertificate.name", fmt.Errorf("httpproxy.fallbackCertificate.name %q is not a Secret name", f.Name)
		}
	}
	return "", nil
}

// lineOf finds the line of a dotted key path in a YAML document; 0 if absent.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		if i := strings.Index(part, "["); i >= 0 {
			part = part[:i]
		}
		found := false
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// PolicySettings returns the rules the policy engine enforces.
func (c *Config) PolicySettings() policy.Settings {
	s := policy.Settings{
		RootNamespaces:        slices.Clone(c.HTTPProxy.RootNamespaces),
		DisablePermitInsecure: c.HTTPProxy.DisablePermitInsecure,
		IngressClassName:      c.HTTPProxy.IngressClassName,
	}
	if f := c.HTTPProxy.FallbackCertificate; f != nil {
		s.FallbackCertificate = &policy.Key{Namespace: f.Namespace, Name: f.Name}
	}
	return s
}
