package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	kjson "sigs.k8s.io/json"
)

// parseJSON parses a stream of JSON values, such as one object or several
// concatenated objects, keeping the absolute line where each starts.
func parseJSON(data []byte) ([]value, *lineError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var values []value
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return values, nil
		}
		if err != nil {
			return nil, jsonError(data, dec, err)
		}
		// RawMessage holds exactly the value's bytes, which end where the
		// decoder stopped reading.
		line := lineAt(data, int(dec.InputOffset())-len(raw))
		// encoding/json keeps the last of duplicate keys; the API server's
		// strict field validation rejects them, and so does Read.
		var v any
		strictErrs, err := kjson.UnmarshalStrict(raw, &v, kjson.DisallowDuplicateFields)
		if err != nil {
			return nil, &lineError{line: line, err: fmt.Errorf("json: %w", err)}
		}
		if len(strictErrs) > 0 {
			return nil, &lineError{line: line, err: joinErrors("json: ", strictErrs)}
		}
		values = append(values, value{line: line, v: v})
	}
}

// jsonError locates a JSON decoding error. A SyntaxError's Offset counts
// the bytes read up to and including the offending one.
func jsonError(data []byte, dec *json.Decoder, err error) *lineError {
	offset := int(dec.InputOffset())
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		offset = int(syntaxErr.Offset) - 1
	}
	return &lineError{line: lineAt(data, offset), err: fmt.Errorf("json: %w", err), syntax: true}
}

// lineAt returns the 1-based line of the byte at offset in data, clamped to
// data. A newline belongs to the line it ends.
func lineAt(data []byte, offset int) int {
	offset = min(max(offset, 0), len(data))
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	if offset == len(data) && bytes.HasSuffix(data, []byte("\n")) {
		line-- // Past the last newline is not a line of its own.
	}
	return max(line, 1)
}

// joinErrors combines errs into one error whose message lists them on one
// line, after prefix.
func joinErrors(prefix string, errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return &parseError{msg: prefix + strings.Join(msgs, ", "), err: errors.Join(errs...)}
}
