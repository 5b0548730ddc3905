package manifest

import (
	"errors"
	"fmt"
)

// Sentinel errors carried, wrapped, in Error.Err. Test for them with
// errors.Is. They are never reassigned.
var (
	// ErrMissingAPIVersion means a document or List item has no apiVersion,
	// or one that is not a non-empty string.
	ErrMissingAPIVersion = errors.New("missing apiVersion")

	// ErrMissingKind means a document or List item has no kind, or one that
	// is not a non-empty string.
	ErrMissingKind = errors.New("missing kind")

	// ErrNotObject means a document or List item is a list, a string, a
	// number or a boolean rather than a mapping.
	ErrNotObject = errors.New("not an object")

	// ErrUnsupportedKind means Decode was given a kind that the scheme does
	// not know.
	ErrUnsupportedKind = errors.New("unsupported kind")

	// ErrStdinRepeated means Stdin was given more than once to Read.
	ErrStdinRepeated = errors.New("standard input given more than once")
)

// Error is a problem with the input, located at a source and line.
//
// Read returns it for unreadable files and directories, YAML and JSON syntax
// errors, duplicate keys, documents that are not objects and documents
// without apiVersion or kind. Decode returns it for unsupported kinds,
// unknown fields and values of the wrong type.
type Error struct {
	// Source is the file path as given to Read (or joined with its
	// directory), or Stdin.
	Source string

	// Line is the absolute, 1-based line in Source that the error is about:
	// the line the parser reports for syntax errors and duplicate keys,
	// otherwise the line where the document starts (Document.Line). It is 0
	// when no line applies, for example when the file cannot be opened.
	Line int

	// Err is the underlying error. For unknown fields found by Decode it is
	// the error from runtime.NewStrictDecodingError, so
	// runtime.AsStrictDecodingError(e.Err) lists them.
	Err error
}

// Error formats the error as "source:line: err", or "source: err" when
// Line is 0, so that editors and CI annotate the right line.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

// Unwrap returns Err, for errors.Is and errors.As.
func (e *Error) Unwrap() error {
	return e.Err
}

// parseError is a parser error whose message was rewritten to drop the
// parser's relative line number, which Error.Line replaces with an absolute
// one. It keeps the parser's error for errors.As.
type parseError struct {
	msg string
	err error
}

func (e *parseError) Error() string { return e.msg }

func (e *parseError) Unwrap() error { return e.err }
