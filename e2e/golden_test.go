package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/projectwarden/warden/internal/golden"
	xdsclient "github.com/projectwarden/warden/xds/client"
)

// renderState renders what an ADS client holds as stable YAML: resources by type, sorted by
// name, as protojson re-encoded with sorted keys. Secrets are listed by name only (their
// bytes are generated per run) and versions are left out (they hash those bytes).
func renderState(t *testing.T, s xdsclient.State) []byte {
	t.Helper()
	out := map[string]any{}
	for typ, m := range map[string]map[string]proto.Message{
		"listeners": s.Listeners, "routes": s.Routes, "clusters": s.Clusters, "endpoints": s.Endpoints,
	} {
		var items []any
		for _, name := range slices.Sorted(mapsKeys(m)) {
			b, err := protojson.Marshal(m[name])
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			items = append(items, v)
		}
		out[typ] = items
	}
	out["secrets"] = slices.Sorted(mapsKeys(s.Secrets))
	b, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapsKeys[T any](m map[string]T) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// assertGolden compares got with testdata/name, or rewrites it with -update.
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}
