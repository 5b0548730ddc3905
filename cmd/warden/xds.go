package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"
	"sigs.k8s.io/yaml"

	"github.com/projectwarden/warden/xds/client"
)

// redacted replaces the inline contents of secret data sources in a dump.
const redacted = "[REDACTED]"

type xdsDumpFlags struct {
	address             string
	ca, cert, key       string
	serverName          string
	insecure            bool
	delta               bool
	nodeID, nodeCluster string
	output              string
	timeout             time.Duration
}

// newXDSCommand is "warden xds": tools that talk to an xDS server.
func newXDSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "xds",
		Short: "Inspect what an xDS server serves",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newXDSDumpCommand())
	return cmd
}

func newXDSDumpCommand() *cobra.Command {
	var f xdsDumpFlags
	cmd := &cobra.Command{
		Use:   "dump --address HOST:PORT (--ca FILE --cert FILE --key FILE | --insecure) [--delta] [--node-id ID] [-o yaml|json] [--timeout 10s]",
		Short: "Fetch everything an xDS server serves to an Envoy and print it",
		Long: `dump connects to an xDS server as an Envoy would: it opens one ADS stream, subscribes
to every cluster and listener, then to the route configurations, cluster load assignments
and secrets they reference, and ACKs every response. Once every referenced resource has
arrived it prints them all, grouped by type (listeners, routes, clusters, endpoints,
secrets) and sorted by name, with each type's version. The inline contents of secrets'
private keys, passwords and other key material are printed as ` + redacted + `.

Warden's server requires mutual TLS: give the CA that signed its certificate and a client
certificate and key it accepts (an Envoy client certificate). The server certificate is
checked for --server-name, by default the host of --address.

Exit status: 0 when the complete state was printed; 1 when the server cannot be reached,
TLS fails, the stream fails, or the state is still incomplete after --timeout (the message
says what is missing); 2 for invalid flags or unreadable files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runXDSDump(cmd, f) },
	}
	flags := cmd.Flags()
	flags.StringVar(&f.address, "address", "", "host:port of the xDS server (required)")
	flags.StringVar(&f.ca, "ca", "", "PEM file of the CAs that the server certificate must chain to")
	flags.StringVar(&f.cert, "cert", "", "PEM file of the client certificate (with --key)")
	flags.StringVar(&f.key, "key", "", "PEM file of the client certificate's private key (with --cert)")
	flags.StringVar(&f.serverName, "server-name", "", "name the server certificate must be valid for (default: the host of --address)")
	flags.BoolVar(&f.insecure, "insecure", false, "connect in plaintext, to a server in insecure mode (local development only)")
	flags.BoolVar(&f.delta, "delta", false, "use delta (incremental) xDS instead of state of the world")
	flags.StringVar(&f.nodeID, "node-id", "warden-xds-dump", "node id sent to the server")
	flags.StringVar(&f.nodeCluster, "node-cluster", "", "node cluster sent to the server")
	flags.StringVarP(&f.output, "output", "o", "yaml", "output format: yaml or json")
	flags.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the connection and a complete state")
	_ = cmd.MarkFlagRequired("address")
	return cmd
}

func runXDSDump(cmd *cobra.Command, f xdsDumpFlags) error {
	o, err := f.clientOptions()
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()

	c, err := client.Dial(ctx, o)
	if err != nil {
		msg := err.Error()
		if f.insecure && strings.Contains(msg, "server preface") {
			// A TLS server closes a plaintext connection before its HTTP/2 preface.
			msg += " (the server may require TLS: use --ca, --cert and --key instead of --insecure)"
		}
		return &exitError{code: 1, msg: msg}
	}
	defer func() { _ = c.Close() }()

	runCtx, stop := context.WithCancel(cmd.Context())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		// Failures reach WaitFor, which returns them.
		_ = c.Run(runCtx)
	}()
	s, err := c.WaitFor(ctx, func(s client.State) bool { return client.CheckComplete(s) == nil })
	stop()
	<-ran
	if err != nil {
		return &exitError{code: 1, msg: waitError(f, s, err)}
	}

	out, unknown, err := renderDump(s, f.output)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: typed configs of types unknown to this binary are printed without their fields: %s\n",
			strings.Join(unknown, ", "))
	}
	_, err = cmd.OutOrStdout().Write(out)
	return err
}

// waitError explains why the wait for a complete state s failed with err.
func waitError(f xdsDumpFlags, s client.State, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg := fmt.Sprintf("the xDS state from %s was not complete after %s: %v", f.address, f.timeout, client.CheckComplete(s))
		if len(s.Responses) == 0 {
			msg += fmt.Sprintf(" (the server sent nothing: does it serve node id %q, cluster %q?)", f.nodeID, f.nodeCluster)
		}
		return msg
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return err.Error()
}

// clientOptions checks the flags and builds the client's options.
func (f xdsDumpFlags) clientOptions() (client.Options, error) {
	o := client.Options{Address: f.address, NodeID: f.nodeID, Cluster: f.nodeCluster, Mode: client.SotW}
	if f.delta {
		o.Mode = client.Delta
	}
	switch {
	case f.output != "yaml" && f.output != "json":
		return o, fmt.Errorf("--output must be yaml or json, not %q", f.output)
	case f.timeout <= 0:
		return o, fmt.Errorf("--timeout must be positive, not %s", f.timeout)
	case f.insecure && (f.ca != "" || f.cert != "" || f.key != ""):
		return o, errors.New("--insecure and --ca, --cert, --key are mutually exclusive")
	case f.insecure:
		return o, nil
	case f.ca == "":
		return o, errors.New("--ca (with --cert and --key for a server that requires client certificates) or --insecure is required")
	case (f.cert == "") != (f.key == ""):
		return o, errors.New("--cert and --key go together")
	}
	config, err := f.tlsConfig()
	o.TLS = config
	return o, err
}

// tlsConfig is the client's TLS configuration from the files of the flags.
func (f xdsDumpFlags) tlsConfig() (*tls.Config, error) {
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("reading --ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--ca %s holds no PEM certificate", f.ca)
	}
	config := &tls.Config{RootCAs: pool, ServerName: f.serverName, MinVersion: tls.VersionTLS12}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("loading --cert and --key: %w", err)
		}
		// Present the certificate whatever CAs the server says it accepts, as Envoy does: Go's
		// default sends none when the server's list does not name the certificate's issuer.
		config.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &pair, nil
		}
	}
	return config, nil
}

// dumpDocument is what dump prints. Resources are protojson objects, sorted by name.
type dumpDocument struct {
	// Versions is the version of each type's last response, by the names below.
	Versions  map[string]string `json:"versions"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Secrets   []json.RawMessage `json:"secrets"`
}

// renderDump formats s as output ("yaml" or "json"), secrets redacted. It also returns the
// type URLs of typed configs it could not decode (types not compiled into this binary),
// which are printed without their fields.
func renderDump(s client.State, output string) ([]byte, []string, error) {
	resolver := &lenientResolver{unknown: map[string]bool{}}
	marshal := protojson.MarshalOptions{UseProtoNames: true, Resolver: resolver}
	doc := dumpDocument{Versions: map[string]string{}}
	for _, group := range []struct {
		name    string
		typeURL string
		into    *[]json.RawMessage
	}{
		{"listeners", resource.ListenerType, &doc.Listeners},
		{"routes", resource.RouteType, &doc.Routes},
		{"clusters", resource.ClusterType, &doc.Clusters},
		{"endpoints", resource.EndpointType, &doc.Endpoints},
		{"secrets", resource.SecretType, &doc.Secrets},
	} {
		if v, ok := s.Versions[group.typeURL]; ok {
			doc.Versions[group.name] = v
		}
		resources := s.Resources(group.typeURL)
		*group.into = []json.RawMessage{}
		for _, name := range slices.Sorted(maps.Keys(resources)) {
			m := resources[name]
			if secret, ok := m.(*tlsv3.Secret); ok {
				m = redactSecret(secret)
			}
			b, err := marshal.Marshal(m)
			if err != nil {
				return nil, nil, fmt.Errorf("formatting %s %q: %w", group.name, name, err)
			}
			*group.into = append(*group.into, b)
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	out = append(out, '\n')
	if output == "yaml" {
		if out, err = yaml.JSONToYAML(out); err != nil {
			return nil, nil, err
		}
	}
	return out, slices.Sorted(maps.Keys(resolver.unknown)), nil
}

// redactSecret returns a copy of s whose inline key material (private key, password,
// PKCS#12 bundle, session ticket keys, generic secrets) reads redacted. Certificates,
// validation contexts and file names are kept.
func redactSecret(s *tlsv3.Secret) *tlsv3.Secret {
	s = proto.Clone(s).(*tlsv3.Secret)
	if c := s.GetTlsCertificate(); c != nil {
		redact(c.GetPrivateKey())
		redact(c.GetPassword())
		redact(c.GetPkcs12())
	}
	for _, k := range s.GetSessionTicketKeys().GetKeys() {
		redact(k)
	}
	if g := s.GetGenericSecret(); g != nil {
		redact(g.GetSecret())
		for _, d := range g.GetSecrets() {
			redact(d)
		}
	}
	return s
}

// redact replaces the inline contents of d, if any, with redacted.
func redact(d *corev3.DataSource) {
	switch d.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes, *corev3.DataSource_InlineString:
		d.Specifier = &corev3.DataSource_InlineString{InlineString: redacted}
	}
}

// lenientResolver resolves types from the global registry and decodes the Any of an unknown
// type as an empty message (printed with its "@type" only) rather than failing the dump,
// recording the type.
type lenientResolver struct {
	unknown map[string]bool
}

func (r *lenientResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if errors.Is(err, protoregistry.NotFound) {
		r.unknown[url] = true
		return (&emptypb.Empty{}).ProtoReflect().Type(), nil
	}
	return mt, err
}

func (r *lenientResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (r *lenientResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (r *lenientResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}
