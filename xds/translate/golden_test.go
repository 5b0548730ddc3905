package translate

import (
	"bytes"
	"encoding/json"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/projectwarden/warden/controller/model"
	"github.com/projectwarden/warden/internal/golden"
	"github.com/projectwarden/warden/manifest"
)

// optionsKind is the kind of the test-only document that sets a case's options:
//
//	apiVersion: test.warden.dev/v1
//	kind: TranslateOptions
//	translate: {httpPort: 80, minTLSVersion: "1.3", …}   # translate.Options
//	model: {disablePermitInsecure: true, fallbackCertificate: ns/name}   # model.Options
const optionsKind = "TranslateOptions"

// TestGolden builds the model of each testdata/<case>.in.yaml (HTTPProxies, Services,
// EndpointSlices and Secrets, whose data and stringData fill model.Secret.Data; every
// proxy counts as accepted), translates it, and compares the resources, rendered as YAML
// through protojson, with testdata/<case>.out.yaml. Each result must also pass Validate and
// CheckReferences and form a consistent go-control-plane snapshot.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", ".in.yaml", ".out.yaml", func(t *testing.T, path string) []byte {
		m, opts := loadCase(t, path)
		r, err := Translate(m, opts)
		if err != nil {
			t.Fatalf("Translate: %v", err)
		}
		checkResources(t, r)
		return []byte(render(t, r))
	})
}

// render is the golden form of r: each resource, decoded from the encoding that is
// served, through protojson (proto field names, Any expanded), the lists in Messages
// order, then Missing, as YAML with sorted keys. Resources.Hashes are left out: they change
// with every byte and are tested apart.
func render(t testing.TB, r *Resources) string {
	t.Helper()
	msgs := decode(t, r)
	doc := []any{}
	section := func(name string, list []proto.Message) {
		items := make([]any, 0, len(list))
		for _, m := range list {
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			items = append(items, v)
		}
		doc = append(doc, map[string]any{name: items})
	}
	section("listeners", messages(msgs.Listeners))
	section("routes", messages(msgs.Routes))
	section("clusters", messages(msgs.Clusters))
	section("endpoints", messages(msgs.Endpoints))
	section("secrets", messages(msgs.Secrets))
	if len(r.Missing) > 0 {
		doc = append(doc, map[string]any{"missing": r.Missing})
	}
	var out bytes.Buffer
	for _, d := range doc {
		b, err := yaml.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	return out.String()
}

func messages[T proto.Message](list []T) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

// loadCase reads a case's objects (strictly, as the API server would), builds its model
// and fills the secrets' data.
func loadCase(t testing.TB, path string) (*model.Model, Options) {
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
	in := model.NewInput()
	data := map[model.Key]map[string][]byte{}
	var opts caseOptions
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
		if s, ok := obj.(*corev1.Secret); ok {
			data[model.KeyOf(s)] = secretData(s)
		}
	}
	m := model.Build(in, opts.Model)
	for _, s := range m.Secrets {
		s.Data = data[s.Name]
	}
	return m, opts.Translate
}

// secretData is what the API server would store: data, overlaid by stringData.
func secretData(s *corev1.Secret) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}

type caseOptions struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Translate  Options       `json:"translate"`
	Model      model.Options `json:"model"`
}

func decodeOptions(t testing.TB, d manifest.Document) caseOptions {
	t.Helper()
	b, err := json.Marshal(d.Object.Object)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o caseOptions
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s:%d: %v", d.Source, d.Line, err)
	}
	return o
}
