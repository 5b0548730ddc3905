package manifest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// chunk is the text of one YAML document, between "---" lines.
type chunk struct {
	// start is the absolute line of the first line of text.
	start int
	text  []byte
}

// parseYAML parses a stream of YAML documents. Each document is converted
// by sigs.k8s.io/yaml, as kubectl does, so that YAML 1.1 quirks (yes/no
// booleans, for example) mean here what they mean to the API server.
func parseYAML(data []byte) ([]value, *lineError) {
	chunks, err := splitYAML(data)
	if err != nil {
		return nil, err
	}
	var values []value
	for _, c := range chunks {
		line := firstContentLine(c)
		if line == 0 {
			continue // Empty or comment-only.
		}
		j, err := yaml.YAMLToJSONStrict(c.text)
		if err != nil {
			return nil, yamlError(err, c, line)
		}
		var v any
		if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &v); err != nil {
			return nil, &lineError{line: line, err: fmt.Errorf("yaml: %w", err)}
		}
		if v == nil {
			continue // A document such as "~" or "null".
		}
		values = append(values, value{line: line, v: v})
	}
	return values, nil
}

// splitYAML splits data on "---" lines the way kubectl's YAMLReader does,
// keeping the absolute line where each document's text starts: the YAML
// parser only knows lines relative to the text it is given.
func splitYAML(data []byte) ([]chunk, *lineError) {
	var chunks []chunk
	begin, start, lineNo := 0, 1, 1
	for off := 0; off < len(data); lineNo++ {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		line := data[off:next]
		if bytes.HasPrefix(line, []byte("---")) {
			// kubectl rejects anything but a comment after the separator,
			// so a manifest that relies on it could not be applied.
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				return nil, &lineError{
					line: lineNo,
					err:  fmt.Errorf("yaml: invalid document separator %q: only a comment may follow \"---\"", bytes.TrimSpace(line)),
				}
			}
			chunks = append(chunks, chunk{start: start, text: data[begin:off]})
			begin, start = next, lineNo+1
		}
		off = next
	}
	return append(chunks, chunk{start: start, text: data[begin:]}), nil
}

// firstContentLine returns the absolute line of the first line of c that
// is neither blank nor a comment, or 0 if there is none.
func firstContentLine(c chunk) int {
	text := c.text
	for n := c.start; len(text) > 0; n++ {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return n
		}
	}
	return 0
}

// lastLine returns the absolute line of the last line of c.
func lastLine(c chunk) int {
	n := bytes.Count(c.text, []byte("\n"))
	if bytes.HasSuffix(c.text, []byte("\n")) {
		n--
	}
	return c.start + max(n, 0)
}

// yamlError locates a YAML parser error. The parser reports "line N"
// relative to the chunk it was given (and sometimes no line at all); this
// turns N into an absolute line and removes it from the message, so that
// only one line number is shown. Without a line, the error is placed at the
// document's first line, docLine.
func yamlError(err error, c chunk, docLine int) *lineError {
	rest, ok := strings.CutPrefix(err.Error(), "yaml: ")
	if !ok {
		// Not a parser error: sigs.k8s.io/yaml could not convert a value
		// to JSON (a non-string key, an infinite number).
		return &lineError{line: docLine, err: fmt.Errorf("yaml: %w", err)}
	}
	absolute := func(n int) int {
		return min(max(c.start+n-1, c.start), lastLine(c))
	}
	if n, msg, ok := cutLine(rest); ok {
		return &lineError{line: absolute(n), err: &parseError{msg: "yaml: " + msg, err: err}}
	}
	list, ok := strings.CutPrefix(rest, "unmarshal errors:\n")
	if !ok {
		return &lineError{line: docLine, err: err}
	}
	// Several errors, one per line, such as duplicate keys: the first
	// locates the error, the others keep an (absolute) line in the message.
	line := 0
	var msgs []string
	for _, l := range strings.Split(list, "\n") {
		n, msg, ok := cutLine(strings.TrimSpace(l))
		switch {
		case !ok:
			msgs = append(msgs, strings.TrimSpace(l))
		case line == 0:
			line = absolute(n)
			msgs = append(msgs, msg)
		default:
			msgs = append(msgs, fmt.Sprintf("line %d: %s", absolute(n), msg))
		}
	}
	if line == 0 {
		line = docLine
	}
	return &lineError{line: line, err: &parseError{msg: "yaml: " + strings.Join(msgs, "; "), err: err}}
}

// cutLine splits "line N: message" into N and message.
func cutLine(s string) (n int, msg string, ok bool) {
	rest, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0, "", false
	}
	num, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", false
	}
	return n, msg, true
}
