package manifest

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// summary is what the Read tests compare of a Document: where it came from
// and which object it is.
type summary struct {
	Source string
	Line   int
	Index  int
	Kind   string
	Name   string
}

func summarize(docs []Document) []summary {
	var out []summary
	for _, d := range docs {
		out = append(out, summary{
			Source: d.Source,
			Line:   d.Line,
			Index:  d.Index,
			Kind:   d.Object.GetKind(),
			Name:   d.Object.GetName(),
		})
	}
	return out
}

func TestRead(t *testing.T) {
	cases := map[string]struct {
		paths []string
		stdin string
		want  []summary
	}{
		"multi-document file gives each document the line of its first content": {
			paths: []string{"testdata/multi.yaml"},
			want: []summary{
				{Source: "testdata/multi.yaml", Line: 2, Index: 0, Kind: "Service", Name: "web"},
				{Source: "testdata/multi.yaml", Line: 10, Index: 1, Kind: "ConfigMap", Name: "settings"},
				{Source: "testdata/multi.yaml", Line: 19, Index: 2, Kind: "HTTPProxy", Name: "web"},
			},
		},
		"directory is read non-recursively, manifest files only, sorted by name": {
			paths: []string{"testdata/dir"},
			want: []summary{
				{Source: "testdata/dir/a.yml", Line: 1, Index: 0, Kind: "ConfigMap", Name: "a"},
				{Source: "testdata/dir/b.yaml", Line: 1, Index: 1, Kind: "ConfigMap", Name: "b"},
				{Source: "testdata/dir/c.json", Line: 1, Index: 2, Kind: "ConfigMap", Name: "c"},
			},
		},
		"a file given explicitly is read whatever its name": {
			paths: []string{"testdata/dir/sub/z.yaml"},
			want: []summary{
				{Source: "testdata/dir/sub/z.yaml", Line: 2, Index: 0, Kind: "ConfigMap", Name: "z"},
			},
		},
		"stdin is read for - and indexes continue across paths": {
			paths: []string{"testdata/dir/a.yml", "-", "testdata/dir/b.yaml"},
			stdin: "\n\napiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n",
			want: []summary{
				{Source: "testdata/dir/a.yml", Line: 1, Index: 0, Kind: "ConfigMap", Name: "a"},
				{Source: "-", Line: 3, Index: 1, Kind: "Secret", Name: "token"},
				{Source: "testdata/dir/b.yaml", Line: 1, Index: 2, Kind: "ConfigMap", Name: "b"},
			},
		},
		"List and *List kinds are expanded into their items with the line of the List": {
			paths: []string{"testdata/list.yaml"},
			want: []summary{
				{Source: "testdata/list.yaml", Line: 1, Index: 0, Kind: "Namespace", Name: "team-a"},
				{Source: "testdata/list.yaml", Line: 7, Index: 1, Kind: "Service", Name: "web"},
				{Source: "testdata/list.yaml", Line: 7, Index: 2, Kind: "ConfigMap", Name: "settings"},
				{Source: "testdata/list.yaml", Line: 19, Index: 3, Kind: "ConfigMap", Name: "one"},
			},
		},
		"nested Lists are expanded": {
			paths: []string{"-"},
			stdin: `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hidden"}}]}]}`,
			want: []summary{
				{Source: "-", Line: 1, Index: 0, Kind: "Secret", Name: "hidden"},
			},
		},
		"JSON stream gives each object the line of its opening brace": {
			paths: []string{"testdata/objects.json"},
			want: []summary{
				{Source: "testdata/objects.json", Line: 1, Index: 0, Kind: "ConfigMap", Name: "first"},
				{Source: "testdata/objects.json", Line: 9, Index: 1, Kind: "Service", Name: "second"},
			},
		},
		"YAML flow mapping starting with a brace is read as YAML": {
			paths: []string{"-"},
			stdin: "{apiVersion: v1, kind: ConfigMap, metadata: {name: flow}}\n---\n{apiVersion: v1, kind: Secret}\n",
			want: []summary{
				{Source: "-", Line: 1, Index: 0, Kind: "ConfigMap", Name: "flow"},
				{Source: "-", Line: 3, Index: 1, Kind: "Secret"},
			},
		},
		"empty, null and comment-only documents are skipped": {
			paths: []string{"testdata/empty-docs.yaml"},
			want: []summary{
				{Source: "testdata/empty-docs.yaml", Line: 6, Index: 0, Kind: "ConfigMap", Name: "kept"},
			},
		},
		"byte order mark and CRLF line endings are accepted": {
			paths: []string{"-"},
			stdin: "\ufeffapiVersion: v1\r\nkind: ConfigMap\r\n---\r\napiVersion: v1\r\nkind: Secret\r\n",
			want: []summary{
				{Source: "-", Line: 1, Index: 0, Kind: "ConfigMap"},
				{Source: "-", Line: 4, Index: 1, Kind: "Secret"},
			},
		},
		"empty input gives no documents": {
			paths: []string{"-"},
			stdin: "",
		},
		"no paths gives no documents": {},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs, err := Read(tc.paths, strings.NewReader(tc.stdin))
			if err != nil {
				t.Fatalf("Read() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(docs)); diff != "" {
				t.Errorf("Read() documents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadObject(t *testing.T) {
	cases := map[string]struct {
		stdin string
		want  map[string]any
	}{
		"YAML keeps integers as int64 and reads YAML 1.1 booleans as kubectl does": {
			stdin: "apiVersion: v1\nkind: Service\nspec:\n  ports:\n  - port: 80\n  publishNotReadyAddresses: yes\n  ratio: 0.5\n",
			want: map[string]any{
				"apiVersion": "v1",
				"kind":       "Service",
				"spec": map[string]any{
					"ports":                    []any{map[string]any{"port": int64(80)}},
					"publishNotReadyAddresses": true,
					"ratio":                    0.5,
				},
			},
		},
		"JSON keeps integers as int64": {
			stdin: `{"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}], "ratio": 0.5}}`,
			want: map[string]any{
				"apiVersion": "v1",
				"kind":       "Service",
				"spec": map[string]any{
					"ports": []any{map[string]any{"port": int64(80)}},
					"ratio": 0.5,
				},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs, err := Read([]string{Stdin}, strings.NewReader(tc.stdin))
			if err != nil {
				t.Fatalf("Read() error: %v", err)
			}
			if len(docs) != 1 {
				t.Fatalf("Read() returned %d documents, want 1", len(docs))
			}
			if diff := cmp.Diff(tc.want, docs[0].Object.Object); diff != "" {
				t.Errorf("Read() object (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadError(t *testing.T) {
	cases := map[string]struct {
		paths []string
		stdin io.Reader
		// want is the whole message, which starts with source:line.
		want     string
		wantLine int
		// wantIs, if set, is a sentinel the error must wrap.
		wantIs error
	}{
		"YAML syntax error reports the absolute line": {
			paths:    []string{"testdata/syntax-error.yaml"},
			want:     "testdata/syntax-error.yaml:10: yaml: mapping values are not allowed in this context",
			wantLine: 10,
		},
		"YAML syntax error at the end of a document stays in the document": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: 'unterminated\n---\napiVersion: v1\n"),
			want:     "-:5: yaml: found unexpected end of stream",
			wantLine: 5,
		},
		"YAML error without a line is placed at the document": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("kind: ConfigMap\n---\n# tab\n\tapiVersion: v1\n"),
			want:     "-:4: yaml: found character that cannot start any token",
			wantLine: 4,
		},
		"duplicate YAML key reports the line of the duplicate": {
			paths:    []string{"testdata/duplicate-key.yaml"},
			want:     `testdata/duplicate-key.yaml:7: yaml: key "mode" already set in map`,
			wantLine: 7,
		},
		"several duplicate YAML keys are all reported with absolute lines": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("---\nkind: A\nkind: B\napiVersion: v1\napiVersion: v2\n"),
			want:     `-:3: yaml: key "kind" already set in map; line 5: key "apiVersion" already set in map`,
			wantLine: 3,
		},
		"duplicate JSON key reports the field path": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n \"metadata\": {\"name\": \"a\", \"name\": \"b\"}}"),
			want:     `-:2: json: duplicate field "metadata.name"`,
			wantLine: 2,
		},
		"JSON syntax error reports the line of the offending character": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\"\n \"metadata\": {}}\n"),
			want:     "-:3: json: invalid character '\"' after object key:value pair",
			wantLine: 3,
		},
		"missing kind reports the document's line": {
			paths:    []string{"testdata/missing-kind.yaml"},
			want:     "testdata/missing-kind.yaml:7: missing kind",
			wantLine: 7,
			wantIs:   ErrMissingKind,
		},
		"missing apiVersion": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("kind: ConfigMap\n"),
			want:     "-:1: missing apiVersion",
			wantLine: 1,
			wantIs:   ErrMissingAPIVersion,
		},
		"kind that is not a string": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("apiVersion: v1\nkind: [ConfigMap]\n"),
			want:     "-:1: missing kind: want a non-empty string, got a list",
			wantLine: 1,
			wantIs:   ErrMissingKind,
		},
		"List item without kind names the item": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n- apiVersion: v1\n"),
			want:     "-:1: items[1]: missing kind",
			wantLine: 1,
			wantIs:   ErrMissingKind,
		},
		"List whose items are not a list": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("apiVersion: v1\nkind: List\nitems: {}\n"),
			want:     "-:1: items of a List must be a list, got an object",
			wantLine: 1,
		},
		"document that is a list is not an object": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("# A list.\n- apiVersion: v1\n  kind: ConfigMap\n"),
			want:     "-:2: not an object: got a list",
			wantLine: 2,
			wantIs:   ErrNotObject,
		},
		"document that is a string is not an object": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("apiVersion: v1\nkind: ConfigMap\n---\nhello\n"),
			want:     "-:4: not an object: got a string",
			wantLine: 4,
			wantIs:   ErrNotObject,
		},
		"separator followed by content is rejected as kubectl does": {
			paths:    []string{"-"},
			stdin:    strings.NewReader("apiVersion: v1\nkind: ConfigMap\n--- {}\n"),
			want:     `-:3: yaml: invalid document separator "--- {}": only a comment may follow "---"`,
			wantLine: 3,
		},
		"missing file has no line": {
			paths: []string{"testdata/missing.yaml"},
			want:  "testdata/missing.yaml: stat: no such file or directory",
		},
		"stdin given twice": {
			paths:  []string{"-", "-"},
			stdin:  strings.NewReader(""),
			want:   "-: standard input given more than once",
			wantIs: ErrStdinRepeated,
		},
		"unreadable stdin": {
			paths: []string{"-"},
			stdin: io.MultiReader(strings.NewReader("apiVersion: v1\n"), errReader{}),
			want:  "-: read: broken pipe",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs, err := Read(tc.paths, tc.stdin)
			if err == nil {
				t.Fatalf("Read() = %d documents, want error %q", len(docs), tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("Read() error (-want +got):\n%s", diff)
			}
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("Read() error is %T, want *Error", err)
			}
			if merr.Line != tc.wantLine {
				t.Errorf("Read() error Line = %d, want %d", merr.Line, tc.wantLine)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Read() error does not wrap %v", tc.wantIs)
			}
		})
	}
}

// errReader fails every read, like a closed pipe.
type errReader struct{}

func (errReader) Read([]byte) (int, error) {
	return 0, errors.New("broken pipe")
}
