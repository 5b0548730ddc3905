package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/projectwarden/warden/xds/client/clienttest"
	"github.com/projectwarden/warden/xds/server"
)

// runXDS runs "warden xds" in-process and returns stdout, stderr, the exit status main
// would use and the error message.
func runXDS(t *testing.T, args ...string) (stdout, stderr string, code int, msg string) {
	t.Helper()
	cmd := newXDSCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	err := cmd.ExecuteContext(t.Context())
	var exit *exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code, msg = exit.code, exit.msg
	default:
		code, msg = 2, err.Error()
	}
	return out.String(), errOut.String(), code, msg
}

// withoutSecrets is s without its secrets: still consistent for go-control-plane, which
// does not check SDS references, but incomplete for Envoy.
func withoutSecrets(t *testing.T, s *cachev3.Snapshot) *cachev3.Snapshot {
	t.Helper()
	resources := map[resource.Type][]types.Resource{}
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		for _, r := range s.GetResources(typ) {
			resources[typ] = append(resources[typ], r)
		}
	}
	out, err := cachev3.NewSnapshot(s.GetVersion(resource.ListenerType), resources)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// closedAddress is a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return address
}

func TestXDSDump(t *testing.T) {
	certs := clienttest.WriteCerts(t)
	complete := clienttest.Cache(t)
	clienttest.SetSnapshot(t, complete, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}))
	mtls := clienttest.StartServer(t, complete, nil, server.Options{CAFile: certs.CA, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}).Addr().String()
	plaintext := clienttest.StartServer(t, complete, nil, server.Options{Insecure: true}).Addr().String()
	incomplete := clienttest.Cache(t)
	clienttest.SetSnapshot(t, incomplete, withoutSecrets(t, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"})))
	noSecrets := clienttest.StartServer(t, incomplete, nil, server.Options{Insecure: true}).Addr().String()

	tlsFlags := []string{"--ca", certs.CA, "--cert", certs.ClientCert, "--key", certs.ClientKey, "--server-name", clienttest.ServerName}
	node := []string{"--node-id", clienttest.NodeID}
	args := func(parts ...[]string) []string {
		out := []string{"dump"}
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}

	cases := map[string]struct {
		args     []string
		wantCode int
		wantOut  []string // substrings of stdout
		wantMsg  string   // substring of the error message
	}{
		"yaml_over_mutual_tls": {
			args:     args([]string{"--address", mtls}, tlsFlags, node),
			wantCode: 0,
			wantOut: []string{
				"listeners:\n- address:", "name: ingress_https", "route_config_name: https/secure.example.com",
				"name: ingress_http\n", "cluster_name: a", "service_name: a", "name: s\n",
				"inline_string: '[REDACTED]'", "-----BEGIN CERTIFICATE-----",
				"versions:\n  clusters: v1\n  endpoints: v1\n  listeners: v1\n  routes: v1\n  secrets: v1\n",
			},
		},
		"json_over_delta": {
			args:     args([]string{"--address", plaintext, "--insecure", "--delta", "-o", "json"}, node),
			wantCode: 0,
			wantOut:  []string{`"inline_string": "[REDACTED]"`, `"route_config_name": "ingress_http"`},
		},
		"no_client_certificate": {
			args:     args([]string{"--address", mtls, "--ca", certs.CA, "--server-name", clienttest.ServerName}, node),
			wantCode: 1,
			wantMsg:  "connecting to the xDS server " + mtls + ": TLS: remote error: tls: certificate required",
		},
		"wrong_server_name": {
			args:     args([]string{"--address", mtls, "--ca", certs.CA, "--cert", certs.ClientCert, "--key", certs.ClientKey, "--server-name", "other"}, node),
			wantCode: 1,
			wantMsg:  "certificate is valid for warden, not other",
		},
		"plaintext_to_a_tls_server": {
			args:     args([]string{"--address", mtls, "--insecure"}, node),
			wantCode: 1,
			wantMsg:  "the server may require TLS",
		},
		"nothing_listening": {
			args:     args([]string{"--address", closedAddress(t), "--insecure", "--timeout", "2s"}, node),
			wantCode: 1,
			wantMsg:  "connection refused",
		},
		"incomplete_state_times_out": {
			args:     args([]string{"--address", noSecrets, "--insecure", "--timeout", "1s"}, node),
			wantCode: 1,
			wantMsg:  `was not complete after 1s: incomplete xDS state, missing: secret "s" (listener "ingress_https" filter chain 0)`,
		},
		"unknown_node_gets_nothing": {
			args:     args([]string{"--address", plaintext, "--insecure", "--timeout", "1s", "--node-id", "stranger"}),
			wantCode: 1,
			wantMsg:  `missing: clusters (no response yet); listeners (no response yet) (the server sent nothing: does it serve node id "stranger", cluster ""?)`,
		},
		"bad_output": {
			args:     args([]string{"--address", plaintext, "--insecure", "-o", "xml"}),
			wantCode: 2,
			wantMsg:  `--output must be yaml or json, not "xml"`,
		},
		"insecure_and_tls": {
			args:     args([]string{"--address", plaintext, "--insecure"}, tlsFlags),
			wantCode: 2,
			wantMsg:  "mutually exclusive",
		},
		"no_tls_choice": {
			args:     args([]string{"--address", plaintext}),
			wantCode: 2,
			wantMsg:  "--insecure is required",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, _, code, msg := runXDS(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit status = %d (%s), want %d\nstdout:\n%s", code, msg, tc.wantCode, out)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error message = %q, want it to contain %q", msg, tc.wantMsg)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			// The private key never shows, in clear or base64.
			for _, secret := range []string{"PRIVATE KEY", base64.StdEncoding.EncodeToString([]byte(clienttest.PrivateKey))[:20]} {
				if strings.Contains(out, secret) {
					t.Errorf("stdout shows the private key (%q):\n%s", secret, out)
				}
			}
		})
	}
}

// TestXDSDump_jsonLayout checks the JSON document's layout: resources grouped by type and
// sorted by name.
func TestXDSDump_jsonLayout(t *testing.T) {
	c := clienttest.Cache(t)
	clienttest.SetSnapshot(t, c, clienttest.Snapshot(t, clienttest.Fixture{Version: "v7"}))
	address := clienttest.StartServer(t, c, nil, server.Options{Insecure: true}).Addr().String()

	out, _, code, msg := runXDS(t, "dump", "--address", address, "--insecure", "--node-id", clienttest.NodeID, "-o", "json")
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, msg)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	namesOf := func(group, field string) []string {
		var resources []map[string]any
		if err := json.Unmarshal(doc[group], &resources); err != nil {
			t.Fatalf("%s: %v", group, err)
		}
		var names []string
		for _, r := range resources {
			names = append(names, r[field].(string))
		}
		return names
	}
	got := map[string][]string{
		"listeners": namesOf("listeners", "name"),
		"routes":    namesOf("routes", "name"),
		"clusters":  namesOf("clusters", "name"),
		"endpoints": namesOf("endpoints", "cluster_name"),
		"secrets":   namesOf("secrets", "name"),
	}
	want := map[string][]string{
		"listeners": {clienttest.ListenerHTTP, clienttest.ListenerHTTPS},
		"routes":    {clienttest.RouteHTTPS, clienttest.RouteHTTP},
		"clusters":  {"a"},
		"endpoints": {"a"},
		"secrets":   {clienttest.Secret},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	var versions map[string]string
	if err := json.Unmarshal(doc["versions"], &versions); err != nil {
		t.Fatal(err)
	}
	wantVersions := map[string]string{"listeners": "v7", "routes": "v7", "clusters": "v7", "endpoints": "v7", "secrets": "v7"}
	if diff := cmp.Diff(wantVersions, versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
}

func TestRenderDump_unknownTypes(t *testing.T) {
	s := clienttest.State(t, clienttest.Snapshot(t, clienttest.Fixture{Version: "v1"}))
	l := proto.Clone(s.Listeners[clienttest.ListenerHTTP]).(*listenerv3.Listener)
	l.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name: "unknown",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: &anypb.Any{
			TypeUrl: "type.googleapis.com/example.v1.NotCompiledIn",
			Value:   []byte{0x0a, 0x01, 'x'},
		}},
	}}
	s.Listeners[clienttest.ListenerHTTP] = l

	out, unknown, err := renderDump(s, "json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"type.googleapis.com/example.v1.NotCompiledIn"}, unknown); diff != "" {
		t.Errorf("unknown types (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(out), `"@type": "type.googleapis.com/example.v1.NotCompiledIn"`) {
		t.Errorf("the typed config of an unknown type is not printed with its type:\n%s", out)
	}
}
