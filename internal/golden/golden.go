// Package golden is the one place golden-file tests get their -update flag and their
// compare-or-rewrite logic (STYLE R12), so every package's goldens behave the same:
//
//	go test ./controller/model/ -update   # rewrite, then review the diff
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is registered once for every test binary that imports this package.
var update = flag.Bool("update", false, "rewrite golden files from the current output (then review the diff) and delete stale ones")

// Updating reports whether -update was given.
func Updating() bool { return *update }

// Inputs returns the sorted paths of dir/*<suffix> (e.g. ".in.yaml"), failing the test if
// there are none.
func Inputs(t testing.TB, dir, suffix string) []string {
	t.Helper()
	in, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) == 0 {
		t.Fatalf("no %s/*%s", dir, suffix)
	}
	slices.Sort(in)
	return in
}

// Assert compares got with the golden file at path, or rewrites it with -update.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
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
		t.Fatalf("%v (rerun the test with -update to create it, then review it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if the change is intended, rerun with -update and review:\n%s", path, diff)
	}
}

// RemoveStale deletes, with -update, the outputs (inSuffix replaced by outSuffix) whose
// input is gone.
func RemoveStale(t testing.TB, inputs []string, inSuffix, outSuffix string) {
	t.Helper()
	if !*update || len(inputs) == 0 {
		return
	}
	outputs, err := filepath.Glob(filepath.Join(filepath.Dir(inputs[0]), "*"+outSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range outputs {
		if !slices.Contains(inputs, strings.TrimSuffix(out, outSuffix)+inSuffix) {
			t.Logf("removing stale golden %s", out)
			if err := os.Remove(out); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Run is a whole golden test over dir: one subtest per dir/*<inSuffix>, named after the file
// without its suffix, that compares output(t, input path) with the file of the same name
// and outSuffix; then, with -update, the outputs without an input are removed.
func Run(t *testing.T, dir, inSuffix, outSuffix string, output func(t *testing.T, in string) []byte) {
	t.Helper()
	inputs := Inputs(t, dir, inSuffix)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), inSuffix)
		t.Run(name, func(t *testing.T) {
			Assert(t, filepath.Join(dir, name+outSuffix), output(t, in))
		})
	}
	RemoveStale(t, inputs, inSuffix, outSuffix)
}
