package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runWarden runs the CLI in-process and returns stdout and the exit status main would use.
func runWarden(t *testing.T, stdin string, args ...string) (string, int, string) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	var exit *exitError
	switch {
	case err == nil:
		return out.String(), 0, ""
	case errors.As(err, &exit):
		return out.String(), exit.code, exit.msg
	default:
		return out.String(), 2, err.Error()
	}
}

func TestCheck_exitStatus(t *testing.T) {
	cases := map[string]struct {
		args     []string
		stdin    string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of the error message
	}{
		"all_allowed_exits_0": {
			args: []string{"check", "-f", "testdata/ok.yaml"}, wantCode: 0,
			wantOut: "2 requests: 0 denied, 0 with warnings. HTTPProxies stored: 1 valid, 0 invalid, 0 orphaned.",
		},
		"denial_exits_1": {
			args: []string{"check", "-f", "../../examples/multi-team", "--config", "../../examples/warden.yaml"}, wantCode: 1,
			wantOut: "denied: HTTPProxy team-a/takeover: root HTTPProxy cannot be defined in this namespace [root-namespace]",
		},
		"stdin_is_read": {
			args: []string{"check", "-f", "-"}, stdin: "apiVersion: projectcontour.io/v1\nkind: HTTPProxy\nmetadata: {namespace: a, name: b}\nspec: {}\n",
			wantCode: 0, wantOut: "a/b             orphaned",
		},
		"yaml_syntax_error_exits_2_with_file_and_line": {
			args: []string{"check", "-f", "testdata/broken.yaml"}, wantCode: 2,
			wantErr: "testdata/broken.yaml:6: yaml: did not find expected key",
		},
		"unknown_field_exits_2_with_file_and_line": {
			args: []string{"check", "-f", "testdata/unknown-field.yaml"}, wantCode: 2,
			wantErr: `testdata/unknown-field.yaml:1: strict decoding error: unknown field "spec.virtualhost.fqdnn"`,
		},
		"bad_config_exits_2_with_file_and_line": {
			args: []string{"check", "-f", "testdata/ok.yaml", "--config", "testdata/bad-config.yaml"}, wantCode: 2,
			wantErr: `testdata/bad-config.yaml:2: unknown key "httpproxy.rootNamespace"`,
		},
		"missing_file_exits_2": {
			args: []string{"check", "-f", "testdata/nope.yaml"}, wantCode: 2, wantErr: "testdata/nope.yaml",
		},
		"bad_output_format_exits_2": {
			args: []string{"check", "-f", "testdata/ok.yaml", "-o", "xml"}, wantCode: 2, wantErr: `--output must be text or json, not "xml"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, code, msg := runWarden(t, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nerror: %s\n%s", code, tc.wantCode, msg, out)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out)
			}
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q lacks %q", msg, tc.wantErr)
			}
		})
	}
}

func TestCheck_jsonShape(t *testing.T) {
	out, code, msg := runWarden(t, "", "check", "-o", "json", "-f", "../../examples/multi-team", "--config", "../../examples/warden.yaml")
	if code != 1 {
		t.Fatalf("exit %d (%s), want 1", code, msg)
	}
	var got struct {
		Admission []map[string]any `json:"admission"`
		Status    []map[string]any `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	for _, key := range []string{"index", "kind", "namespace", "name", "operation", "allowed", "denials", "warnings"} {
		if _, ok := got.Admission[0][key]; !ok {
			t.Errorf("admission entries lack %q: %v", key, got.Admission[0])
		}
	}
	for _, key := range []string{"namespace", "name", "currentStatus", "description", "conditions"} {
		if _, ok := got.Status[0][key]; !ok {
			t.Errorf("status entries lack %q: %v", key, got.Status[0])
		}
	}
}

func TestCheck_sequence(t *testing.T) {
	out, code, msg := runWarden(t, "", "check", "-o", "json", "-f", "testdata/sequence.yaml")
	if code != 1 {
		t.Fatalf("exit %d (%s), want 1 for the delete of a missing object\n%s", code, msg, out)
	}
	var got struct {
		Admission []struct {
			Kind, Namespace, Name, Operation string
			Allowed                          bool
			Warnings                         []string
		} `json:"admission"`
		Status []struct{ Namespace, Name, CurrentStatus string } `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, a := range got.Admission {
		ops = append(ops, fmt.Sprintf("%s %s %s/%s allowed=%v", a.Operation, a.Kind, a.Namespace, a.Name, a.Allowed))
	}
	want := []string{
		"CREATE Service team-a/web allowed=true",
		"CREATE HTTPProxy team-a/child allowed=true",
		"CREATE HTTPProxy roots/app allowed=true",
		"UPDATE HTTPProxy roots/app allowed=true",
		"DELETE HTTPProxy team-a/child allowed=true",
		"DELETE HTTPProxy team-a/never-created allowed=false",
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if w := got.Admission[4].Warnings; len(w) != 1 || !strings.Contains(w[0], "roots/app includes it and will answer 502 for that include (serving app.example.com) [impact]") {
		t.Errorf("delete warnings = %q, want the impact on roots/app", w)
	}
	if len(got.Status) != 1 || got.Status[0].Name != "app" || got.Status[0].CurrentStatus != "invalid" {
		t.Errorf("final status = %+v, want only roots/app, invalid (its include is gone)", got.Status)
	}
}
