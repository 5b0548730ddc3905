package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/projectwarden/warden/controller/model"
)

// smallModel is one TLS vhost with one route to one cluster of one endpoint, built by
// hand so that tests can break it in ways model.Build never would.
func smallModel() *model.Model {
	cert := model.Key{Namespace: "ns", Name: "cert"}
	return &model.Model{
		VirtualHosts: []*model.VirtualHost{{
			FQDN: "a.example.com",
			Root: model.Key{Namespace: "ns", Name: "root"},
			TLS:  &model.TLS{SecretRef: cert, MinVersion: "1.2", MaxVersion: "1.3"},
			Routes: []*model.Route{{
				Owner:         model.Key{Namespace: "ns", Name: "root"},
				Origin:        model.Origin{Field: "routes", Index: 0},
				PathMatch:     model.PathMatch{Kind: model.PathPrefix, Value: "/"},
				HTTPSRedirect: true,
				Forward:       &model.Forward{Clusters: []model.WeightedCluster{{ClusterName: "ns/s/80/da39a3ee5e", Weight: 1}}},
			}},
		}},
		Clusters: []*model.Cluster{{
			Name: "ns/s/80/da39a3ee5e", Service: model.Key{Namespace: "ns", Name: "s"}, Port: 80, EDSName: "ns/s",
		}},
		Endpoints: []*model.ClusterLoadAssignment{{
			Name: "ns/s", Endpoints: []model.Endpoint{{Address: "10.0.0.1", Port: 8080, Ready: true}},
		}},
		Secrets: []*model.Secret{{Name: cert, Data: map[string][]byte{KeyCertificate: []byte("crt"), KeyPrivateKey: []byte("key")}}},
	}
}

// TestTranslateInvalid checks that a model breaking Envoy's rules (which model.Build never
// produces) makes Translate fail with ErrInvalid, naming the resource, and return nothing.
func TestTranslateInvalid(t *testing.T) {
	cases := map[string]struct {
		breakIt func(m *model.Model, o *Options)
		want    string
	}{
		"direct response status out of range": {
			breakIt: func(m *model.Model, _ *Options) {
				r := m.VirtualHosts[0].Routes[0]
				r.Forward, r.HTTPSRedirect, r.DirectResponse = nil, false, &model.DirectResponse{Status: 99}
			},
			want: "invalid Envoy resource: route configuration https/a.example.com: virtual host a.example.com: invalid RouteConfiguration.VirtualHosts[0]",
		},
		"route without action": {
			breakIt: func(m *model.Model, _ *Options) { m.VirtualHosts[0].Routes[0].Forward = nil },
			want:    "route configuration https/a.example.com: virtual host a.example.com: route ns/root routes[0]: invalid Envoy resource: the route has no action",
		},
		"unknown path match kind": {
			breakIt: func(m *model.Model, _ *Options) { m.VirtualHosts[0].Routes[0].PathMatch.Kind = "glob" },
			want:    `route configuration ingress_http: virtual host a.example.com: route ns/root routes[0]: invalid Envoy resource: unknown path match kind "glob"`,
		},
		"header name with a newline": {
			breakIt: func(m *model.Model, _ *Options) {
				m.VirtualHosts[0].Routes[0].Headers = []model.HeaderMatch{{Name: "x\n", Kind: model.HeaderPresent}}
			},
			want: "invalid HeaderMatcher.Name",
		},
		"endpoint port out of range": {
			breakIt: func(m *model.Model, _ *Options) { m.Endpoints[0].Endpoints[0].Port = 70000 },
			want:    "invalid Envoy resource: cluster load assignment ns/s: invalid ClusterLoadAssignment.Endpoints[0]",
		},
		"health check without path": {
			breakIt: func(m *model.Model, _ *Options) { m.Clusters[0].HealthCheck = &model.HealthCheck{} },
			want:    "invalid Envoy resource: cluster ns/s/80/da39a3ee5e: invalid Cluster.HealthChecks[0]",
		},
		"HTTPS port out of range": {
			breakIt: func(_ *model.Model, o *Options) { o.HTTPSPort = 70000 },
			want:    "invalid Envoy resource: listener ingress_https: invalid Listener.Address",
		},
		"SNI too long (in a packed UpstreamTlsContext)": {
			breakIt: func(m *model.Model, _ *Options) {
				m.Clusters[0].Protocol, m.Clusters[0].SNI = model.ProtocolTLS, strings.Repeat("a", 256)
			},
			want: "cluster ns/s/80/da39a3ee5e: invalid Envoy resource: UpstreamTlsContext: invalid UpstreamTlsContext.Sni",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, o := smallModel(), Options{}
			tc.breakIt(m, &o)
			r, err := Translate(m, o)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Translate = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Translate error\n%v\ndoes not contain\n%s", err, tc.want)
			}
			if r != nil {
				t.Errorf("Translate returned resources with its error")
			}
		})
	}
}

// TestValidateLooksInsideAny: an HTTP connection manager packed without validation is
// caught by Validate, though the listener's own ValidateAll passes.
func TestValidateLooksInsideAny(t *testing.T) {
	r, err := Translate(smallModel(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := decode(t, r)
	l := msgs.Listeners[0]
	l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{
		TypedConfig: mustAny(t, &hcmv3.HttpConnectionManager{}), // no stat_prefix, no route
	}
	if err := l.ValidateAll(); err != nil {
		t.Fatalf("the listener itself should pass ValidateAll: %v", err)
	}
	err = Validate(msgs)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want an error wrapping ErrInvalid", err)
	}
	if want := "listener ingress_http: HttpConnectionManager: invalid HttpConnectionManager.StatPrefix"; !strings.Contains(err.Error(), want) {
		t.Errorf("Validate error\n%v\ndoes not contain\n%s", err, want)
	}
}

// TestHashes: hashes are the same for the same model, and a change touches the hashes of
// the resources it changes only; a rotated certificate changes its SDS secret and nothing
// else, so Envoy gets one secret update and keeps its listener.
func TestHashes(t *testing.T) {
	base, err := Translate(smallModel(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		change func(m *model.Model)
		want   map[resource.Type][]string // the resources whose hash changes
	}{
		"nothing": {change: func(*model.Model) {}},
		"certificate rotated": {
			change: func(m *model.Model) {
				m.Secrets[0].Data = map[string][]byte{KeyCertificate: []byte("crt2"), KeyPrivateKey: []byte("key2")}
			},
			want: map[resource.Type][]string{resource.SecretType: {"ns/cert"}},
		},
		"endpoint added": {
			change: func(m *model.Model) {
				m.Endpoints[0].Endpoints = append(m.Endpoints[0].Endpoints, model.Endpoint{Address: "10.0.0.2", Port: 8080, Ready: true})
			},
			want: map[resource.Type][]string{resource.EndpointType: {"ns/s"}},
		},
		"TLS version raised": {
			change: func(m *model.Model) { m.VirtualHosts[0].TLS.MinVersion = "1.3" },
			want:   map[resource.Type][]string{resource.ListenerType: {HTTPSListenerName}},
		},
		"route timeout": {
			change: func(m *model.Model) {
				m.VirtualHosts[0].Routes[0].Forward.Timeouts = &model.Timeouts{Idle: nil, Response: nil}
				m.VirtualHosts[0].Routes[0].Forward.Websocket = true
			},
			want: map[resource.Type][]string{resource.RouteType: {HTTPSRouteConfigName("a.example.com")}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := smallModel()
			tc.change(m)
			r, err := Translate(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[resource.Type][]string{}
			for typ, hashes := range r.Hashes {
				for n, h := range hashes {
					if base.Hashes[typ][n] != h {
						got[typ] = append(got[typ], n)
					}
				}
				if (len(got[typ]) == 0) != (r.Version(typ) == base.Version(typ)) {
					t.Errorf("%s: Version changed %v, hashes changed %q", kindOf(typ), r.Version(typ) != base.Version(typ), got[typ])
				}
			}
			if diff := cmp.Diff(tc.want, got, cmpEmpty()); diff != "" {
				t.Errorf("changed hashes (-want +got):\n%s", diff)
			}
		})
	}
}

func cmpEmpty() cmp.Option {
	return cmp.FilterValues(func(a, b map[resource.Type][]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())
}

// TestTranslateLeavesModelAlone: Translate does not change the model, and the resources
// do not share memory with it: changing the model's secret bytes afterwards does not
// change a served certificate.
func TestTranslateLeavesModelAlone(t *testing.T) {
	m, opts := loadCase(t, "testdata/two-tls-vhosts.in.yaml")
	before := modelJSON(t, m)
	r, err := Translate(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, modelJSON(t, m)); diff != "" {
		t.Errorf("Translate changed the model (-before +after):\n%s", diff)
	}
	want := maps.Clone(r.Encoded[resource.SecretType])
	for name, b := range want {
		want[name] = bytes.Clone(b)
	}
	for _, s := range m.Secrets {
		for _, b := range s.Data {
			for i := range b {
				b[i] = 'X'
			}
		}
	}
	if diff := cmp.Diff(want, r.Encoded[resource.SecretType]); diff != "" {
		t.Errorf("secrets share memory with the model (-before +after):\n%s", diff)
	}
}

func modelJSON(t *testing.T, m *model.Model) string {
	t.Helper()
	data := map[string]map[string][]byte{}
	for _, s := range m.Secrets {
		data[s.Name.String()] = maps.Clone(s.Data)
	}
	b, err := json.Marshal(struct {
		M    *model.Model
		Data map[string]map[string][]byte
	}{m, data})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDownstreamVersions: a vhost's TLS versions are clamped to the fleet's, the floor
// winning a conflict; unknown values are the defaults.
func TestDownstreamVersions(t *testing.T) {
	const v12, v13 = tlsv3.TlsParameters_TLSv1_2, tlsv3.TlsParameters_TLSv1_3
	cases := map[string]struct {
		opts           Options
		vhMin, vhMax   string
		wantMin, wantM tlsv3.TlsParameters_TlsProtocol
	}{
		"defaults":                 {vhMin: "1.2", vhMax: "1.3", wantMin: v12, wantM: v13},
		"vhost asks 1.3":           {vhMin: "1.3", vhMax: "1.3", wantMin: v13, wantM: v13},
		"vhost caps at 1.2":        {vhMin: "1.2", vhMax: "1.2", wantMin: v12, wantM: v12},
		"unknown values":           {vhMin: "1.1", vhMax: "2", wantMin: v12, wantM: v13},
		"fleet floor":              {opts: Options{MinTLSVersion: "1.3"}, vhMin: "1.2", vhMax: "1.3", wantMin: v13, wantM: v13},
		"floor beats vhost cap":    {opts: Options{MinTLSVersion: "1.3"}, vhMin: "1.2", vhMax: "1.2", wantMin: v13, wantM: v13},
		"fleet ceiling":            {opts: Options{MaxTLSVersion: "1.2"}, vhMin: "1.2", vhMax: "1.3", wantMin: v12, wantM: v12},
		"floor beats fleet cap":    {opts: Options{MaxTLSVersion: "1.2"}, vhMin: "1.3", vhMax: "1.3", wantMin: v13, wantM: v13},
		"empty vhost, fleet range": {opts: Options{MinTLSVersion: "1.3", MaxTLSVersion: "1.3"}, wantMin: v13, wantM: v13},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			gotMin, gotMax := tc.opts.withDefaults().downstreamVersions(tc.vhMin, tc.vhMax)
			if gotMin != tc.wantMin || gotMax != tc.wantM {
				t.Errorf("downstreamVersions(%q, %q) = %v, %v, want %v, %v", tc.vhMin, tc.vhMax, gotMin, gotMax, tc.wantMin, tc.wantM)
			}
		})
	}
}

func TestEscapeHeaderValue(t *testing.T) {
	cases := map[string]string{
		"":                                 "",
		"plain":                            "plain",
		"100%":                             "100%%",
		"%":                                "%%",
		"%%":                               "%%%%",
		"%HOSTNAME%":                       "%HOSTNAME%",
		"a %DOWNSTREAM_REMOTE_ADDRESS% b":  "a %DOWNSTREAM_REMOTE_ADDRESS% b",
		"%REQ(x-forwarded-for)%":           "%REQ(x-forwarded-for)%",
		"%REQ(:authority)%":                "%REQ(:authority)%",
		"%REQ(bad header)%":                "%%REQ(bad header)%%",
		"%REQ()%":                          "%%REQ()%%",
		"%UPSTREAM_METADATA([\"a\"])%":     "%%UPSTREAM_METADATA([\"a\"])%%",
		"%ENV(SECRET)%":                    "%%ENV(SECRET)%%",
		"50% of %HOSTNAME%":                "50%% of %HOSTNAME%",
		"%HOSTNAME":                        "%%HOSTNAME",
		"%PROTOCOL%%HOSTNAME%":             "%PROTOCOL%%HOSTNAME%",
		"%unknown% then %PROTOCOL% and 5%": "%%unknown%% then %PROTOCOL% and 5%%",
	}
	for in, want := range cases {
		if got := escapeHeaderValue(in); got != want {
			t.Errorf("escapeHeaderValue(%q) = %q, want %q", in, got, want)
		}
	}
}
