package shutdown

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

func TestSumActiveConnectionsCountsOnlyTrafficListeners(t *testing.T) {
	stats := template.Must(template.ParseFiles(filepath.Join("testdata", "stats.prom.tmpl")))
	cases := map[string]struct {
		http, https int
		ignored     []string
		want        int
	}{
		"admin and stats listeners ignored": {http: 3, https: 4, ignored: defaultIgnoredListeners(), want: 7},
		"drained":                           {ignored: defaultIgnoredListeners(), want: 0},
		"nothing ignored counts admin and stats connections too": {http: 3, https: 4, ignored: nil, want: 10},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var text bytes.Buffer
			if err := stats.Execute(&text, struct{ HTTP, HTTPS int }{tc.http, tc.https}); err != nil {
				t.Fatal(err)
			}
			got, err := sumActiveConnections(&text, tc.ignored)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %d open connections, want %d", got, tc.want)
			}
		})
	}
}

func TestSumActiveConnectionsRejectsWhatIsNotEnvoyStats(t *testing.T) {
	cases := map[string]struct {
		text string
		want string
	}{
		"not the Prometheus format": {"<html>Envoy admin</html>\n", "parsing Envoy's Prometheus stats"},
		"without the gauge":         {"# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n", "stats have no envoy_http_downstream_cx_active"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := sumActiveConnections(strings.NewReader(tc.text), defaultIgnoredListeners())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
