package serve

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestOwnConnection: a config from ownConnection gets a transport (so a connection pool) of
// its own, while equal configs share one, and the original config is left as it was.
func TestOwnConnection(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	shared1, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shared2, err := rest.TransportFor(rest.CopyConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if shared1 != shared2 {
		t.Fatalf("equal configs got different transports: the check below would prove nothing")
	}
	own, err := rest.TransportFor(ownConnection(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if own == shared1 {
		t.Errorf("ownConnection's config shares the informers' transport")
	}
	if cfg.Dial != nil {
		t.Errorf("ownConnection changed the config it was given")
	}
}
