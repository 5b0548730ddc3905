package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// newScheme returns a scheme with the kinds `warden check` decodes in
// tests: the core group and Contour's.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, contourv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatalf("building scheme: %v", err)
		}
	}
	return s
}

// readOne reads the document at index from paths, with stdin.
func readOne(t *testing.T, paths []string, stdin string, index int) Document {
	t.Helper()
	docs, err := Read(paths, strings.NewReader(stdin))
	if err != nil {
		t.Fatalf("Read() error: %v", err)
	}
	if index >= len(docs) {
		t.Fatalf("Read() returned %d documents, want at least %d", len(docs), index+1)
	}
	return docs[index]
}

func TestDecode(t *testing.T) {
	cases := map[string]struct {
		paths []string
		stdin string
		index int
		want  runtime.Object
	}{
		"valid HTTPProxy yields a typed HTTPProxy with its fields set": {
			paths: []string{"testdata/httpproxy.yaml"},
			want: &contourv1.HTTPProxy{
				TypeMeta:   metav1.TypeMeta{APIVersion: "projectcontour.io/v1", Kind: "HTTPProxy"},
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
				Spec: contourv1.HTTPProxySpec{
					VirtualHost: &contourv1.VirtualHost{
						Fqdn: "web.example.com",
						TLS:  &contourv1.TLS{SecretName: "web-tls"},
					},
					Routes: []contourv1.Route{{
						Conditions: []contourv1.MatchCondition{{Prefix: "/api"}},
						Services:   []contourv1.Service{{Name: "api", Port: 8080, Weight: 90}},
					}},
				},
			},
		},
		"core kind is decoded into its typed struct without defaulting": {
			paths: []string{"testdata/multi.yaml"},
			want: &corev1.Service{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
			},
		},
		"List item is decoded on its own": {
			paths: []string{"testdata/list.yaml"},
			index: 2,
			want: &corev1.ConfigMap{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Name: "settings"},
			},
		},
		"JSON document with an int-or-string port": {
			paths: []string{"-"},
			stdin: `{"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}`,
			want: &corev1.Service{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
					Port:       80,
					TargetPort: intstr.FromString("http"),
				}}},
			},
		},
	}
	s := newScheme(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := readOne(t, tc.paths, tc.stdin, tc.index)
			got, err := Decode(d, s)
			if err != nil {
				t.Fatalf("Decode() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decode() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	cases := map[string]struct {
		paths []string
		stdin string
		index int
		// doc, if set, is decoded instead of the document read from paths.
		doc *Document
		// want is the whole message, which starts with source:line.
		want string
		// wantIs, if set, is a sentinel the error must wrap.
		wantIs error
		// wantFields, if set, are the fields of a strict decoding error.
		wantFields []string
	}{
		"unknown fields are reported with their paths at source:line": {
			paths: []string{"testdata/httpproxy-unknown-field.yaml"},
			index: 1,
			want: `testdata/httpproxy-unknown-field.yaml:7: strict decoding error: ` +
				`unknown field "spec.routes[0].services[0].wieght", unknown field "spec.virtualhost.fqdnn"`,
			wantFields: []string{
				`unknown field "spec.routes[0].services[0].wieght"`,
				`unknown field "spec.virtualhost.fqdnn"`,
			},
		},
		"unknown field in a List item reports the List's line": {
			paths: []string{"-"},
			stdin: "# Items.\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  dta: {}\n",
			want:  `-:2: strict decoding error: unknown field "dta"`,
		},
		"field names are case-sensitive": {
			paths: []string{"-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nMetadata:\n  name: x\n",
			want:  `-:1: strict decoding error: unknown field "Metadata"`,
		},
		"value of the wrong type": {
			paths: []string{"-"},
			stdin: "apiVersion: projectcontour.io/v1\nkind: HTTPProxy\nspec:\n  virtualhost:\n    fqdn: 42\n",
			want: "-:1: decode HTTPProxy: json: cannot unmarshal number into Go struct field " +
				"VirtualHost.spec.virtualhost.fqdn of type string",
		},
		"kind not in the scheme": {
			paths:  []string{"-"},
			stdin:  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
			want:   "-:1: unsupported kind Deployment (apiVersion apps/v1)",
			wantIs: ErrUnsupportedKind,
		},
		"known kind in an unknown version": {
			paths:  []string{"-"},
			stdin:  "apiVersion: projectcontour.io/v1alpha1\nkind: HTTPProxy\n",
			want:   "-:1: unsupported kind HTTPProxy (apiVersion projectcontour.io/v1alpha1)",
			wantIs: ErrUnsupportedKind,
		},
		"document built without a kind": {
			doc: &Document{Source: "built", Line: 3, Object: &unstructured.Unstructured{
				Object: map[string]any{"apiVersion": "v1"},
			}},
			want:   "built:3: missing kind",
			wantIs: ErrMissingKind,
		},
		"document built without an object": {
			doc:  &Document{Source: "built", Line: 4},
			want: "built:4: document has no object",
		},
	}
	s := newScheme(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var d Document
			if tc.doc != nil {
				d = *tc.doc
			} else {
				d = readOne(t, tc.paths, tc.stdin, tc.index)
			}
			got, err := Decode(d, s)
			if err == nil {
				t.Fatalf("Decode() = %T, want error %q", got, tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("Decode() error (-want +got):\n%s", diff)
			}
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("Decode() error is %T, want *Error", err)
			}
			if merr.Source != d.Source || merr.Line != d.Line {
				t.Errorf("Decode() error at %s:%d, want the document's %s:%d", merr.Source, merr.Line, d.Source, d.Line)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Decode() error does not wrap %v", tc.wantIs)
			}
			if tc.wantFields != nil {
				strict, ok := runtime.AsStrictDecodingError(merr.Err)
				if !ok {
					t.Fatalf("Decode() error Err is %T, want a strict decoding error", merr.Err)
				}
				var fields []string
				for _, e := range strict.Errors() {
					fields = append(fields, e.Error())
				}
				if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
					t.Errorf("Decode() strict errors (-want +got):\n%s", diff)
				}
			}
		})
	}
}
