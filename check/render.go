package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON prints the report as one JSON object.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints the report as two readable tables: what admission answered to each
// document, then the final status of every stored HTTPProxy with its errors and warnings.
func WriteText(w io.Writer, r *Report) error {
	adm := table{header: []string{"#", "OPERATION", "KIND", "NAMESPACE/NAME", "RESULT", "SOURCE"}}
	for _, a := range r.Admission {
		result := "allowed"
		switch {
		case !a.Allowed:
			result = "DENIED"
		case !a.Checked:
			result = "not checked"
		case len(a.Warnings) > 0:
			result = "allowed with warnings"
		}
		var details []string
		for _, d := range a.Denials {
			details = append(details, "denied: "+d.Message)
		}
		for _, m := range a.Warnings {
			details = append(details, "warning: "+m)
		}
		adm.add([]string{fmt.Sprint(a.Index + 1), a.Operation, a.Kind, name(a.Namespace, a.Name), result, a.Source}, details)
	}
	st := table{header: []string{"NAMESPACE/NAME", "STATUS", "DESCRIPTION"}}
	for _, s := range r.Status {
		var details []string
		for _, c := range s.Conditions {
			for _, e := range c.Errors {
				details = append(details, fmt.Sprintf("error %s/%s: %s", e.Type, e.Reason, e.Message))
			}
			for _, e := range c.Warnings {
				details = append(details, fmt.Sprintf("warning %s/%s: %s", e.Type, e.Reason, e.Message))
			}
		}
		st.add([]string{name(s.Namespace, s.Name), s.CurrentStatus, s.Description}, details)
	}
	var b strings.Builder
	b.WriteString("ADMISSION\n")
	adm.write(&b)
	b.WriteString("\nSTATUS\n")
	st.write(&b)
	fmt.Fprintf(&b, "\n%s\n", summary(r))
	_, err := io.WriteString(w, b.String())
	return err
}

// table aligns columns across all rows; each row may carry indented detail lines.
type table struct {
	header  []string
	rows    [][]string
	details [][]string
}

func (t *table) add(row, details []string) {
	t.rows = append(t.rows, row)
	t.details = append(t.details, details)
}

func (t *table) write(b *strings.Builder) {
	widths := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(r []string) {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(b, "%-*s  ", widths[i], c)
		}
		b.WriteString("\n")
	}
	line(t.header)
	for i, r := range t.rows {
		line(r)
		for _, d := range t.details[i] {
			fmt.Fprintf(b, "    %s\n", d)
		}
	}
}

func name(ns, n string) string {
	if ns == "" {
		return n
	}
	return ns + "/" + n
}

func summary(r *Report) string {
	denied, warned := 0, 0
	for _, a := range r.Admission {
		if !a.Allowed {
			denied++
		}
		if len(a.Warnings) > 0 {
			warned++
		}
	}
	counts := map[string]int{}
	for _, s := range r.Status {
		counts[s.CurrentStatus]++
	}
	var parts []string
	for _, k := range []string{"valid", "invalid", "orphaned"} {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return fmt.Sprintf("%d requests: %d denied, %d with warnings. HTTPProxies stored: %s.",
		len(r.Admission), denied, warned, strings.Join(parts, ", "))
}
