package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read as stdin. Read must not panic,
// and must return either well-formed documents or an *Error on a line that
// exists.
func FuzzRead(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.*")
	if err != nil {
		f.Fatalf("listing seeds: %v", err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatalf("reading seed: %v", err)
		}
		f.Add(data)
	}
	f.Add([]byte("{apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: A}]}\n---\n"))
	f.Add([]byte("a: &x [*x]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Read([]string{Stdin}, bytes.NewReader(data))
		lines := bytes.Count(data, []byte("\n")) + 1
		if err != nil {
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("Read() error is %T, want *Error: %v", err, err)
			}
			if merr.Source != Stdin || merr.Line < 1 || merr.Line > lines {
				t.Fatalf("Read() error at %s:%d, want a line of %s in [1, %d]: %v", merr.Source, merr.Line, Stdin, lines, err)
			}
			return
		}
		for i, d := range docs {
			if d.Source != Stdin || d.Index != i || d.Line < 1 || d.Line > lines {
				t.Fatalf("document %d is %s:%d index %d, want %s, index %d, a line in [1, %d]", i, d.Source, d.Line, d.Index, Stdin, i, lines)
			}
			if d.Object.GetAPIVersion() == "" || d.Object.GetKind() == "" {
				t.Fatalf("document %d has apiVersion %q and kind %q, want both set", i, d.Object.GetAPIVersion(), d.Object.GetKind())
			}
			// DeepCopy panics on values that are not JSON-compatible.
			d.Object.DeepCopy()
		}
	})
}
