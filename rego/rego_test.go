package rego_test

import (
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/projectwarden/warden/rego"
)

// TestBuiltinPolicies runs the built-in policies' Rego tests with the strict Rego v1
// compiler the engine uses, and checks that every policy file has tests that pass.
func TestBuiltinPolicies(t *testing.T) {
	srcs, err := rego.Modules()
	if err != nil {
		t.Fatalf("Modules: %v", err)
	}
	tests, err := rego.Tests()
	if err != nil {
		t.Fatalf("Tests: %v", err)
	}
	mods := map[string]*ast.Module{}
	for name, src := range srcs {
		mods[name] = parse(t, name, src)
	}
	for name, src := range tests {
		if _, dup := mods[name]; dup {
			t.Fatalf("%s is returned by both Modules and Tests", name)
		}
		mods[name] = parse(t, name, src)
	}

	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithStrict(true).WithDefaultRegoVersion(ast.RegoV1)).
		SetModules(mods).
		RunTests(t.Context(), nil)
	if err != nil {
		t.Fatalf("compiling policies and tests: %v", err)
	}

	passed := map[string]int{} // test file -> passing tests
	total := 0
	for r := range ch {
		total++
		file := ""
		if r.Location != nil {
			file = r.Location.File
		}
		switch {
		case r.Pass():
			passed[file]++
		case r.Skip:
			t.Logf("%s.%s (%s): skipped", r.Package, r.Name, r.Location)
		default:
			t.Errorf("%s.%s (%s): %s", r.Package, r.Name, r.Location, failure(r))
		}
	}
	t.Logf("%d Rego tests ran", total)

	for _, name := range slices.Sorted(maps.Keys(srcs)) {
		testFile := strings.TrimSuffix(name, ".rego") + "_test.rego"
		if _, ok := tests[testFile]; !ok {
			t.Errorf("policy %s has no %s", name, testFile)
			continue
		}
		if passed[testFile] == 0 {
			t.Errorf("policy %s: no test in %s passed", name, testFile)
		}
	}
}

func parse(t *testing.T, name, src string) *ast.Module {
	t.Helper()
	m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return m
}

// failure describes why a test did not pass: its error, the expression it failed at, and
// the failing cases of a parameterised test.
func failure(r *tester.Result) string {
	var parts []string
	if r.Error != nil {
		parts = append(parts, "error: "+r.Error.Error())
	} else {
		parts = append(parts, "failed")
	}
	if r.FailedAt != nil {
		at := "at " + r.FailedAt.String()
		if r.FailedAt.Location != nil {
			at += " (" + r.FailedAt.Location.String() + ")"
		}
		parts = append(parts, at)
	}
	if cases := failedCases(r.SubResults, ""); len(cases) > 0 {
		parts = append(parts, "failing cases: "+strings.Join(cases, "; "))
	}
	if len(r.Output) > 0 {
		parts = append(parts, "output: "+strings.TrimSpace(string(r.Output)))
	}
	return strings.Join(parts, " ")
}

func failedCases(m tester.SubResultMap, prefix string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		sr := m[name]
		if !sr.Fail {
			continue
		}
		path := prefix + name
		if sub := failedCases(sr.SubResults, path+"/"); len(sub) > 0 {
			out = append(out, sub...)
		} else {
			out = append(out, path)
		}
	}
	return out
}

// TestModulesEmbedded checks that the embedded policies and tests are exactly the .rego
// files in this directory, split by the _test.rego suffix.
func TestModulesEmbedded(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var wantModules, wantTests []string
	for _, e := range entries {
		switch name := e.Name(); {
		case e.IsDir() || !strings.HasSuffix(name, ".rego"):
		case strings.HasSuffix(name, "_test.rego"):
			wantTests = append(wantTests, name)
		default:
			wantModules = append(wantModules, name)
		}
	}
	if len(wantModules) == 0 {
		t.Fatal("no .rego policies in the package directory")
	}

	for _, c := range []struct {
		what string
		read func() (map[string]string, error)
		want []string
	}{
		{"Modules", rego.Modules, wantModules},
		{"Tests", rego.Tests, wantTests},
	} {
		got, err := c.read()
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		sort.Strings(c.want)
		if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, c.want) {
			t.Errorf("%s() = %v, want the directory's %v", c.what, names, c.want)
		}
		for name, src := range got {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if string(b) != src {
				t.Errorf("%s(): %s differs from the file on disk", c.what, name)
			}
		}
	}
}
