package model

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/projectwarden/warden/internal/golden"
)

// TestGoldenModelsKeepTheirInvariants checks the invariants of every golden case's model.
func TestGoldenModelsKeepTheirInvariants(t *testing.T) {
	for _, path := range golden.Inputs(t, "testdata", ".in.yaml") {
		t.Run(path, func(t *testing.T) {
			in, opts := loadCase(t, path)
			checkInvariants(t, Build(in, opts))
		})
	}
}

// TestBuildIsIndependentOfInputOrder builds every golden case with its roots and
// EndpointSlices reversed: the model must not change.
func TestBuildIsIndependentOfInputOrder(t *testing.T) {
	for _, path := range golden.Inputs(t, "testdata", ".in.yaml") {
		t.Run(path, func(t *testing.T) {
			in, opts := loadCase(t, path)
			want := render(t, Build(in, opts))
			in.Roots = slices.Clone(in.Roots)
			slices.Reverse(in.Roots)
			slices := map[Key][]*discoveryv1.EndpointSlice{}
			for k, s := range in.EndpointSlices {
				s = append([]*discoveryv1.EndpointSlice(nil), s...)
				for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
					s[i], s[j] = s[j], s[i]
				}
				slices[k] = s
			}
			in.EndpointSlices = slices
			if diff := cmp.Diff(want, render(t, Build(in, opts))); diff != "" {
				t.Errorf("Build with reversed input (-in order +reversed):\n%s", diff)
			}
		})
	}
}

// TestIncrementalBuildMatchesFullBuild assembles every golden case one vhost at a time,
// in reverse order, then rebuilds every vhost again, then removes them all: each step must
// match what Build gives.
func TestIncrementalBuildMatchesFullBuild(t *testing.T) {
	for _, path := range golden.Inputs(t, "testdata", ".in.yaml") {
		t.Run(path, func(t *testing.T) {
			in, opts := loadCase(t, path)
			want := render(t, Build(in, opts))
			fqdns := allFQDNs(in.Roots)
			slices.Reverse(fqdns)
			m := &Model{}
			m.Rebuild(in, opts, fqdns...)
			if diff := cmp.Diff(want, render(t, m)); diff != "" {
				t.Errorf("vhost by vhost (-Build +Rebuild):\n%s", diff)
			}
			m.Rebuild(in, opts, fqdns...)
			if diff := cmp.Diff(want, render(t, m)); diff != "" {
				t.Errorf("rebuilt again (-Build +Rebuild):\n%s", diff)
			}
			m.Rebuild(Input{}, opts, fqdns...)
			if diff := cmp.Diff(render(t, &Model{}), render(t, m)); diff != "" {
				t.Errorf("all removed (-empty +got):\n%s", diff)
			}
		})
	}
}

func allFQDNs(roots []*contourv1.HTTPProxy) []string {
	var out []string
	for _, r := range roots {
		if f := rootFQDN(r); f != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestHashName(t *testing.T) {
	cases := map[string]struct {
		parts []string
		want  string
	}{
		"short names are joined": {
			parts: []string{"default", "kuard", "80", "da39a3ee5e"},
			want:  "default/kuard/80/da39a3ee5e",
		},
		"a long service name is shortened with a hash of the whole name": {
			parts: []string{"default", "a-very-long-service-name-that-goes-on-and-on-for-ages", "8080", "da39a3ee5e"},
			want:  "default/a-very-l-a04306/8080/da39a3ee5e",
		},
		"long parts are shortened from the last until the name fits": {
			parts: []string{"a-rather-long-namespace-name-too", "a-very-long-service-name-that-goes-on", "8080", "da39a3ee5e"},
			want:  "a-rather-bc7a87/a-very-l-bc7a87/8080/da39a3ee5e",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := hashName(maxNameLength, tc.parts...); got != tc.want {
				t.Errorf("hashName(%q) = %q, want %q", tc.parts, got, tc.want)
			}
			if got := hashName(maxNameLength, tc.parts...); len(got) >= maxNameLength {
				t.Errorf("hashName(%q) = %q: %d characters, want fewer than %d", tc.parts, got, len(got), maxNameLength)
			}
		})
	}
}
