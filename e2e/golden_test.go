package e2e

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	xdsclient "github.com/projectwarden/warden/xds/client"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ with the current output (review the diff)")

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
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e/ -run %s -update to create it, then review it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if the change is intended, rerun with -update and review:\n%s", path, diff)
	}
}
