package translate

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/projectwarden/warden/internal/golden"
)

// TestAssembleMatchesMarshal: a resource assembled from its shell and its parts'
// encodings is byte for byte what cachev3.MarshalResource gives for the whole message,
// for shells with fields on both sides of the repeated field, parts holding maps (whose
// order deterministic marshalling fixes), and no parts.
func TestAssembleMatchesMarshal(t *testing.T) {
	meta, err := structpb.NewStruct(map[string]any{"z": 1, "a": "x", "m": map[string]any{"k2": true, "k1": false}})
	if err != nil {
		t.Fatal(err)
	}
	chain := func(name string) *listenerv3.FilterChain {
		return &listenerv3.FilterChain{
			Name:     name,
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"b": meta, "a": meta, "c": meta}},
		}
	}
	cases := map[string]struct {
		shell proto.Message
		field string
		parts []proto.Message
		set   func(proto.Message, []proto.Message)
	}{
		"listener: fields before and after the chains": {
			shell: &listenerv3.Listener{
				Name:                          "l",
				Address:                       socketAddress("::", 443),
				PerConnectionBufferLimitBytes: wrapperspb.UInt32(1 << 20),
				Metadata:                      &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"y": meta, "x": meta}},
				ListenerFilters:               []*listenerv3.ListenerFilter{{Name: "tls"}},
				TrafficDirection:              corev3.TrafficDirection_INBOUND,
			},
			field: "filter_chains",
			parts: []proto.Message{chain("one"), chain("two"), chain("three")},
			set: func(m proto.Message, parts []proto.Message) {
				for _, p := range parts {
					m.(*listenerv3.Listener).FilterChains = append(m.(*listenerv3.Listener).FilterChains, p.(*listenerv3.FilterChain))
				}
			},
		},
		"route configuration without virtual hosts": {
			shell: &routev3.RouteConfiguration{Name: "ingress_http"},
			field: "virtual_hosts",
			set:   func(proto.Message, []proto.Message) {},
		},
		"route configuration: name, virtual hosts, then more": {
			shell: &routev3.RouteConfiguration{Name: "r", ValidateClusters: wrapperspb.Bool(true), ResponseHeadersToRemove: []string{"server"}},
			field: "virtual_hosts",
			parts: []proto.Message{
				&routev3.VirtualHost{Name: "a", Domains: []string{"a"}},
				&routev3.VirtualHost{Name: "b", Domains: []string{"b"}, Routes: []*routev3.Route{{Name: "r"}}},
			},
			set: func(m proto.Message, parts []proto.Message) {
				for _, p := range parts {
					m.(*routev3.RouteConfiguration).VirtualHosts = append(m.(*routev3.RouteConfiguration).VirtualHosts, p.(*routev3.VirtualHost))
				}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			split, err := splitShell(tc.shell, protoreflect.Name(tc.field))
			if err != nil {
				t.Fatal(err)
			}
			encs := make([][]byte, len(tc.parts))
			for i, p := range tc.parts {
				if encs[i], err = deterministic.Marshal(p); err != nil {
					t.Fatal(err)
				}
			}
			got := split.assemble(encs)
			whole := proto.Clone(tc.shell)
			tc.set(whole, tc.parts)
			want, err := cachev3.MarshalResource(whole)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("assembled encoding differs from MarshalResource:\n got %x\nwant %x", got, want)
			}
			aliased := slices.Clone(encs)
			split.alias(got, aliased)
			for i := range encs {
				if !bytes.Equal(aliased[i], encs[i]) || !aliases(got, aliased[i]) {
					t.Errorf("part %d: alias gives %x, not its bytes in the assembled encoding", i, aliased[i])
				}
			}
		})
	}
}

// TestAssembledResources: in every golden case, in the realistic world and in a
// benchmark-like model, the assembled resources (ingress_http, ingress_https,
// ingress_fallbackcert, https/<fqdn>) are what cachev3.MarshalResource gives for the
// messages they decode to (which the golden files show): fields in order, nothing
// repeated or lost.
func TestAssembledResources(t *testing.T) {
	results := map[string]*Resources{}
	for _, path := range golden.Inputs(t, "testdata", ".in.yaml") {
		m, o := loadCase(t, path)
		r, err := Translate(m, o)
		if err != nil {
			t.Fatal(err)
		}
		results[filepath.Base(path)] = r
	}
	r, err := Translate(realisticWorld().m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	results["realistic"] = r
	w := newWorld(benchInput(50), realisticWorld().opts, nil)
	fillBenchSecrets(w.m)
	if results["bench"], err = Translate(w.m, Options{}); err != nil {
		t.Fatal(err)
	}
	for name, r := range results {
		assembled := 0
		for typ, list := range decode(t, r).ByType() {
			if typ != resource.ListenerType && typ != resource.RouteType {
				continue
			}
			for _, res := range list {
				n := cachev3.GetResourceName(res)
				if typ == resource.ListenerType && n == HTTPListenerName {
					continue // marshalled whole
				}
				assembled++
				want, err := cachev3.MarshalResource(res)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(r.Encoded[typ][n], want) {
					t.Errorf("%s: %s %s: assembled encoding differs from MarshalResource", name, kindOf(typ), n)
				}
			}
		}
		if assembled == 0 {
			t.Errorf("%s: nothing assembled", name)
		}
	}
}

// TestSplitShellRefuses: a shell that sets the repeated field, or has unknown fields
// (which marshalling writes last), cannot be assembled.
func TestSplitShellRefuses(t *testing.T) {
	set := &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "a"}}}
	unknown := &routev3.RouteConfiguration{Name: "r"}
	unknown.ProtoReflect().SetUnknown([]byte{0xf8, 0x7f, 1}) // field 2047, varint 1
	for name, shell := range map[string]proto.Message{"field set": set, "unknown fields": unknown} {
		if _, err := splitShell(shell, "virtual_hosts"); err == nil {
			t.Errorf("%s: splitShell accepted it", name)
		}
	}
	if _, err := splitShell(&routev3.RouteConfiguration{}, "name"); err == nil {
		t.Errorf("splitShell accepted a field that is not a repeated message")
	}
}

// aliases reports whether part is the very bytes of whole where they first appear (not a
// copy of them), as sealed parts share the encoding assembled from them.
func aliases(whole, part []byte) bool {
	at := bytes.Index(whole, part)
	return at >= 0 && len(part) > 0 && &whole[at] == &part[0]
}
