package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Stdin is the path that makes Read read its stdin argument, as in
// `kubectl apply -f -`. It is also the Source of documents read from it.
const Stdin = "-"

// Document is one object read from a manifest, with where it came from.
type Document struct {
	// Source is the file path as given (joined with its directory for files
	// found in a directory), or Stdin.
	Source string

	// Line is the 1-based line in Source where the document starts: its first
	// line that is neither blank nor a comment. Items expanded from a List
	// carry the Line of the List's document.
	Line int

	// Index is the 0-based position of the document in the overall input
	// order, across all paths given to Read.
	Index int

	// Object is the object itself. Its apiVersion and kind are non-empty
	// strings; numbers are int64 or float64, as Unstructured expects.
	Object *unstructured.Unstructured
}

// Read reads every path in order and returns the objects found, in order.
//
// A path is a file, a directory or Stdin:
//   - A file is read whatever its name.
//   - A directory is read non-recursively, as `kubectl apply -f DIR` without
//     -R does: its *.yaml, *.yml and *.json files (and symlinks to files),
//     sorted by name; subdirectories and other files are skipped.
//   - Stdin reads all of stdin. Giving it twice is an error, since the
//     second read could only see an empty stream.
//
// A source whose first non-blank character is '{' is read as a stream of
// JSON objects; if it is not valid JSON it is read as YAML (a flow mapping
// also starts with '{'), and if that fails too, the error of the parser that
// got further is returned. Any other source is read as YAML documents separated by
// "---" lines; like kubectl, Read rejects a separator line with anything but
// a comment after "---". Empty and comment-only documents are skipped.
//
// An object of kind List, or of any kind ending in "List" that has an items
// array, is replaced by its items, recursively, so that no object can hide
// inside a List. Duplicate keys are an error: YAML forbids them, and
// Kubernetes' strict field validation rejects them.
//
// All errors are *Error, located at a source and, where one applies, an
// absolute line. Read stops at the first error.
func Read(paths []string, stdin io.Reader) ([]Document, error) {
	r := &reader{stdin: stdin}
	for _, path := range paths {
		if err := r.readPath(path); err != nil {
			return nil, err
		}
	}
	return r.docs, nil
}

// reader accumulates documents across the paths given to one Read call.
type reader struct {
	stdin     io.Reader
	stdinRead bool
	docs      []Document
}

func (r *reader) readPath(path string) error {
	if path == Stdin {
		return r.readStdin()
	}
	info, err := os.Stat(path)
	if err != nil {
		return &Error{Source: path, Err: fileError(err)}
	}
	if info.IsDir() {
		return r.readDir(path)
	}
	return r.readFile(path)
}

func (r *reader) readStdin() error {
	if r.stdinRead {
		return &Error{Source: Stdin, Err: ErrStdinRepeated}
	}
	r.stdinRead = true
	if r.stdin == nil {
		return nil
	}
	data, err := io.ReadAll(r.stdin)
	if err != nil {
		return &Error{Source: Stdin, Err: fmt.Errorf("read: %w", err)}
	}
	return r.parse(Stdin, data)
}

func (r *reader) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Error{Source: path, Err: fileError(err)}
	}
	return r.parse(path, data)
}

// readDir reads the manifest files directly inside dir. os.ReadDir sorts
// entries by name, which makes the order of documents, and so of any
// report, independent of the file system.
func (r *reader) readDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &Error{Source: dir, Err: fileError(err)}
	}
	for _, entry := range entries {
		if !isManifestName(entry.Name()) {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		// Stat follows symlinks, which DirEntry.Type does not.
		info, err := os.Stat(path)
		if err != nil {
			return &Error{Source: path, Err: fileError(err)}
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if err := r.readFile(path); err != nil {
			return err
		}
	}
	return nil
}

// isManifestName reports whether a file found in a directory is read,
// using the extensions kubectl uses.
func isManifestName(name string) bool {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// fileError drops the path from an *fs.PathError, since Error.Source
// already carries it.
func fileError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return fmt.Errorf("%s: %w", pathErr.Op, pathErr.Err)
	}
	return err
}

// parse reads the documents of one source and appends them to r.docs.
func (r *reader) parse(source string, data []byte) error {
	// A UTF-8 byte order mark is allowed by YAML but not by JSON; it is on
	// line 1, so removing it does not shift lines.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	values, err := parseValues(data)
	if err != nil {
		return &Error{Source: source, Line: err.line, Err: err.err}
	}
	for _, v := range values {
		if err := r.add(source, v); err != nil {
			return err
		}
	}
	return nil
}

// value is one parsed document, before it is checked to be an object.
type value struct {
	line int
	v    any
}

// lineError is an error at an absolute line of a source, found while
// parsing it.
type lineError struct {
	line int
	err  error
	// syntax is set when the source is not valid JSON, so that it may
	// still be valid YAML.
	syntax bool
}

// parseValues parses a source into documents: as JSON if it looks like JSON
// (the check kubectl uses), falling back to YAML.
func parseValues(data []byte) ([]value, *lineError) {
	trimmed := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return parseYAML(data)
	}
	values, jsonErr := parseJSON(data)
	if jsonErr == nil || !jsonErr.syntax {
		return values, jsonErr
	}
	values, yamlErr := parseYAML(data)
	if yamlErr == nil {
		return values, nil
	}
	if yamlErr.line > jsonErr.line {
		return nil, yamlErr
	}
	return nil, jsonErr
}

// add checks that v is an object with apiVersion and kind, expands Lists,
// and appends the resulting documents.
func (r *reader) add(source string, v value) error {
	objects, err := expand(v.v, "", nil)
	if err != nil {
		return &Error{Source: source, Line: v.line, Err: err}
	}
	for _, obj := range objects {
		r.docs = append(r.docs, Document{
			Source: source,
			Line:   v.line,
			Index:  len(r.docs),
			Object: &unstructured.Unstructured{Object: obj},
		})
	}
	return nil
}

// expand appends v to out, or its items if it is a List. path locates v in
// its document for error messages: "" for the document itself, "items[2]"
// for a List item.
func expand(v any, path string, out []map[string]any) ([]map[string]any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, withPath(path, fmt.Errorf("%w: got %s", ErrNotObject, describe(v)))
	}
	if err := checkTypeMeta(obj); err != nil {
		return nil, withPath(path, err)
	}
	items, isList, err := listItems(obj)
	if err != nil {
		return nil, withPath(path, err)
	}
	if !isList {
		return append(out, obj), nil
	}
	for i, item := range items {
		out, err = expand(item, fmt.Sprintf("%sitems[%d]", dotted(path), i), out)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listItems returns the items of obj if it is a List: kind List (whose
// items may be absent), or a kind ending in "List" with an items array,
// like a PodList printed by `kubectl get -o yaml`.
func listItems(obj map[string]any) (items []any, isList bool, err error) {
	kind, _ := obj["kind"].(string)
	raw, hasItems := obj["items"]
	switch {
	case kind == "List" && raw == nil:
		return nil, true, nil
	case kind == "List":
		items, ok := raw.([]any)
		if !ok {
			return nil, false, fmt.Errorf("items of a List must be a list, got %s", describe(raw))
		}
		return items, true, nil
	case hasItems && strings.HasSuffix(kind, "List"):
		items, ok := raw.([]any)
		return items, ok, nil
	}
	return nil, false, nil
}

// checkTypeMeta checks that obj has what every Kubernetes object needs to
// be identified.
func checkTypeMeta(obj map[string]any) error {
	if s, ok := obj["apiVersion"].(string); !ok || s == "" {
		return typeMetaError(ErrMissingAPIVersion, obj["apiVersion"])
	}
	if s, ok := obj["kind"].(string); !ok || s == "" {
		return typeMetaError(ErrMissingKind, obj["kind"])
	}
	return nil
}

func typeMetaError(sentinel error, got any) error {
	if got == nil {
		return sentinel
	}
	return fmt.Errorf("%w: want a non-empty string, got %s", sentinel, describe(got))
}

func withPath(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func dotted(path string) string {
	if path == "" {
		return ""
	}
	return path + "."
}

// describe names the JSON type of v for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		if v == "" {
			return "an empty string"
		}
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
