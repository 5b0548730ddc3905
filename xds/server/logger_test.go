package server

import (
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
)

func TestNewLoggerKeepsMessagesConstantAndMapsLevels(t *testing.T) {
	cases := map[string]struct {
		verbosity int
		want      []string
	}{
		"default verbosity shows warnings and errors": {
			verbosity: 0,
			want: []string{
				`"level"=0 "msg"="ADS mode: not responding to request %s" "args"=["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"]`,
				`"msg"="failed to respond: %s" "error"=null "args"=["stream closed"]`,
			},
		},
		"verbosity 2 adds infos": {
			verbosity: 2,
			want: []string{
				`"level"=2 "msg"="Skipping request as nonce is stale for %s" "args"=["type.googleapis.com/envoy.config.cluster.v3.Cluster"]`,
				`"level"=0 "msg"="ADS mode: not responding to request %s" "args"=["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"]`,
				`"msg"="failed to respond: %s" "error"=null "args"=["stream closed"]`,
			},
		},
		"verbosity 4 adds debug, without args when there are none": {
			verbosity: 4,
			want: []string{
				`"level"=4 "msg"="setting snapshot"`,
				`"level"=2 "msg"="Skipping request as nonce is stale for %s" "args"=["type.googleapis.com/envoy.config.cluster.v3.Cluster"]`,
				`"level"=0 "msg"="ADS mode: not responding to request %s" "args"=["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"]`,
				`"msg"="failed to respond: %s" "error"=null "args"=["stream closed"]`,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			l := NewLogger(funcr.New(func(_, args string) { got = append(got, args) }, funcr.Options{Verbosity: tc.verbosity}))
			l.Debugf("setting snapshot")
			l.Infof("Skipping request as nonce is stale for %s", "type.googleapis.com/envoy.config.cluster.v3.Cluster")
			l.Warnf("ADS mode: not responding to request %s", "type.googleapis.com/envoy.config.route.v3.RouteConfiguration")
			l.Errorf("failed to respond: %s", "stream closed")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("log lines (-want +got):\n%s", diff)
			}
		})
	}
}
