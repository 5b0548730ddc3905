package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/serve"
	"github.com/projectwarden/warden/webhook"
	"github.com/projectwarden/warden/webhook/server"
	xdsserver "github.com/projectwarden/warden/xds/server"
)

// Warden is a `warden serve` running in this process against an API server, with its
// webhooks registered there.
type Warden struct {
	// URL is the HTTPS base URL of the webhook server.
	URL string
	// XDSAddress is the xDS server's host:port (plaintext gRPC: tests run it insecure).
	XDSAddress string
	// CA signed the serving certificate; CertDir holds tls.crt and tls.key.
	CA      *CA
	CertDir string

	cancel context.CancelFunc
	done   chan error
}

// WardenOptions configure RunWarden.
type WardenOptions struct {
	REST    *rest.Config
	Client  client.Client // creates the webhook configurations; needs admissionregistration in its scheme
	Config  *config.Config
	CertDir string // an existing, empty directory for the serving certificate
	Logger  logr.Logger
}

// RunWarden starts Warden, registers its webhook configurations (named "warden") by URL,
// and returns once Warden is ready and the API server calls it. Stop ends it.
func RunWarden(ctx context.Context, o WardenOptions) (*Warden, error) {
	ca, err := NewCA("warden-test-ca")
	if err != nil {
		return nil, err
	}
	if err := ca.WriteServing(o.CertDir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Warden{CA: ca, CertDir: o.CertDir, cancel: cancel, done: make(chan error, 1)}
	started := make(chan *server.Server, 1)
	xdsStarted := make(chan *xdsserver.Server, 1)
	go func() {
		w.done <- serve.Run(ctx, serve.Options{
			Config: o.Config, REST: o.REST, Logger: o.Logger, WriteStatus: true,
			Server:  server.Options{BindAddress: "127.0.0.1", Port: 0, CertFile: o.CertDir + "/tls.crt", KeyFile: o.CertDir + "/tls.key"},
			Started: func(s *server.Server) { started <- s },
			XDS: &serve.XDSOptions{
				Server:  xdsserver.Options{Address: "127.0.0.1:0", Insecure: true},
				Started: func(s *xdsserver.Server) { xdsStarted <- s },
			},
		})
	}()
	select {
	case s := <-started:
		w.URL = "https://" + s.Addr().String()
		w.XDSAddress = (<-xdsStarted).Addr().String()
	case err := <-w.done:
		cancel()
		return nil, fmt.Errorf("warden did not start: %w", err)
	}
	if err := w.register(ctx, o.Client); err != nil {
		_ = w.Stop()
		return nil, err
	}
	if err := w.waitEffective(ctx, o.Client); err != nil {
		_ = w.Stop()
		return nil, err
	}
	return w, nil
}

// StartWarden is RunWarden for tests: it fails the test on error and stops Warden when the
// test ends.
func StartWarden(t testing.TB, env *Env, cfg *config.Config) *Warden {
	t.Helper()
	w, err := RunWarden(context.Background(), WardenOptions{REST: env.Config(), Client: env.Client(), Config: cfg, CertDir: t.TempDir()})
	if err != nil {
		t.Fatalf("framework: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			t.Errorf("framework: stopping warden: %v", err)
		}
	})
	return w
}

// Stop shuts Warden down and waits for it.
func (w *Warden) Stop() error {
	w.cancel()
	select {
	case err := <-w.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("warden did not stop within 30s")
	}
}

// Get performs an HTTPS GET on Warden's server (e.g. "/readyz"), trusting its CA.
func (w *Warden) Get(ctx context.Context, path string) (int, string, error) {
	return HTTPSGet(ctx, w.CA.PEM, w.URL+path)
}

// HTTPSGet GETs url trusting caPEM and returns the status and body.
func HTTPSGet(ctx context.Context, caPEM []byte, url string) (int, string, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (w *Warden) register(ctx context.Context, c client.Client) error {
	return RegisterWebhooks(ctx, c, w.URL, w.CA.PEM)
}

func (w *Warden) waitEffective(ctx context.Context, c client.Client) error {
	return WaitEffective(ctx, c, func(ctx context.Context) (int, string, error) { return w.Get(ctx, server.ReadyzPath) })
}

// RegisterWebhooks creates Warden's webhook configurations (named "warden") pointing at
// url, trusting caPEM.
func RegisterWebhooks(ctx context.Context, c client.Client, url string, caPEM []byte) error {
	mut, val := webhook.Configurations(webhook.ConfigurationOptions{Name: "warden", URL: url, CABundle: caPEM})
	for _, o := range []client.Object{mut, val} {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("registering %s: %w", o.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	return nil
}

// WaitEffective waits until readyz answers 200 and the API server sends Warden requests: a
// server-side dry run of an include cycle is denied by Warden. It gives up after 60s.
func WaitEffective(ctx context.Context, c client.Client, readyz func(context.Context) (int, string, error)) error {
	probe := &contourv1.HTTPProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "warden-probe"},
		Spec: contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "warden-probe"}}}}
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if code, body, err := readyz(ctx); err != nil || code != http.StatusOK {
			last = fmt.Errorf("readyz: %d %s %v", code, body, err)
		} else {
			err := c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
			if err != nil && strings.Contains(err.Error(), "[include-cycle]") {
				return nil
			}
			last = fmt.Errorf("probe not denied by warden yet: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("warden's webhooks did not become effective within 60s: %w", last)
}

// PeerIssuer returns the issuer common name of the certificate a new TLS connection to
// Warden is served, to observe certificate rotation.
func (w *Warden) PeerIssuer(ctx context.Context) (string, error) {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // only reads the certificate
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(w.URL, "https://"))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("no peer certificate")
	}
	return certs[0].Issuer.CommonName, nil
}
