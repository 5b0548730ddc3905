package clienttest

import (
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/projectwarden/warden/xds/client"
)

// State is the state of a client that received every resource of s, for tests of what
// reads a client.State without a server.
func State(t testing.TB, s *cachev3.Snapshot) client.State {
	t.Helper()
	st := client.State{Versions: map[string]string{}}
	for typ, field := range map[string]*map[string]proto.Message{
		resource.ListenerType: &st.Listeners, resource.RouteType: &st.Routes, resource.ClusterType: &st.Clusters,
		resource.EndpointType: &st.Endpoints, resource.SecretType: &st.Secrets,
	} {
		*field = map[string]proto.Message{}
		for name, r := range s.GetResources(typ) {
			(*field)[name] = r
		}
		st.Versions[typ] = s.GetVersion(typ)
	}
	return st
}
