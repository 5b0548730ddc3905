// Package rego embeds Warden's built-in Rego policies (Rego v1) and their tests.
//
// Each policy module is a package under warden.builtin and defines `deny contains v` and
// `warn contains v` rules over the decision input documented in docs/policy-authoring.md.
// Every violation v is an object:
//
//	{"rule": "include-cycle", "message": "...", "fix": "...",
//	 "type": "IncludeError", "reason": "IncludeCreatesCycle", "status": "error"}
//
// message is Contour's status message where Contour has the rule, so status stays
// Contour-compatible; fix tells the user what to do; type and reason are the status
// sub-condition; status ("error" or "warning") says how a warn-level violation shows in
// status (deny-level ones are always errors).
//
// Rules open with guards that OPA's rule index decides from the input alone, before
// lib.proxy_write (which the index cannot see into): an equality with a constant
// (input.facts.root == true), membership in a literal set (input.operation in {...}), or a
// reference that must be defined (input.facts.cycles[0]: the list is not empty;
// input.object.spec.virtualhost.tls.passthrough). A rule whose guards fail is never
// evaluated, and Warden skips a package's deny or warn set altogether when the index rules
// out all of its rules (policy/builtin.go), so a judgement costs only the rules that can
// apply. A new rule should keep to this, or it is evaluated for every input.
package rego

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed *.rego
var files embed.FS

// Modules returns the built-in policy modules keyed by file name, without their tests.
func Modules() (map[string]string, error) { return read(false) }

// Tests returns the built-in policies' _test.rego modules keyed by file name.
func Tests() (map[string]string, error) { return read(true) }

func read(tests bool) (map[string]string, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "_test.rego") != tests {
			continue
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		out[e.Name()] = string(b)
	}
	return out, nil
}
