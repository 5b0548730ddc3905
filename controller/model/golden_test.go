package model

import (
	"encoding/json"
	"strings"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/projectwarden/warden/internal/golden"
	"github.com/projectwarden/warden/manifest"
)

// optionsKind is the kind of the test-only document that sets a case's Options:
//
//	apiVersion: test.warden.dev/v1
//	kind: ModelOptions
//	disablePermitInsecure: true
//	fallbackCertificate: ns/name
const optionsKind = "ModelOptions"

// TestGolden builds the model of each testdata/<case>.in.yaml and compares it, rendered as
// YAML, with testdata/<case>.out.yaml. Every root in the input counts as accepted, and so
// does every proxy.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", ".in.yaml", ".out.yaml", func(t *testing.T, path string) []byte {
		in, opts := loadCase(t, path)
		return []byte(render(t, Build(in, opts)))
	})
}

func render(t testing.TB, m *Model) string {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadCase reads a case's objects (strictly, as the API server would) into an Input.
func loadCase(t testing.TB, path string) (Input, Options) {
	t.Helper()
	docs, err := manifest.Read([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{contourv1.AddToScheme, corev1.AddToScheme, discoveryv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	in := NewInput()
	var opts Options
	for _, d := range docs {
		if d.Object.GetKind() == optionsKind {
			opts = decodeOptions(t, d)
			continue
		}
		obj, err := manifest.Decode(d, scheme)
		if err != nil {
			t.Fatal(err)
		}
		if !in.Add(obj) {
			t.Fatalf("%s:%d: unexpected object %T", d.Source, d.Line, obj)
		}
	}
	return in, opts
}

func decodeOptions(t testing.TB, d manifest.Document) Options {
	t.Helper()
	var o struct {
		APIVersion            string `json:"apiVersion"`
		Kind                  string `json:"kind"`
		DisablePermitInsecure bool   `json:"disablePermitInsecure"`
		FallbackCertificate   Key    `json:"fallbackCertificate"`
	}
	b, err := json.Marshal(d.Object.Object)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s:%d: %v", d.Source, d.Line, err)
	}
	return Options{DisablePermitInsecure: o.DisablePermitInsecure, FallbackCertificate: o.FallbackCertificate}
}
