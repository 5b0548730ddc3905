package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Mode is the variant of the xDS protocol a Client speaks.
type Mode int

const (
	// SotW is state-of-the-world xDS: every response of a type holds all the subscribed
	// resources of that type (ADS method StreamAggregatedResources).
	SotW Mode = iota
	// Delta is incremental xDS: responses hold the resources that changed and the names of
	// those removed (ADS method DeltaAggregatedResources).
	Delta
)

func (m Mode) String() string {
	switch m {
	case SotW:
		return "state-of-the-world"
	case Delta:
		return "delta"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// DefaultNodeID is the node id a Client sends when Options.NodeID is empty.
const DefaultNodeID = "warden-xds-client"

// envoyWindow is Envoy's default HTTP/2 stream and connection flow-control window.
const envoyWindow = 256 << 20

// maxResponseSize bounds the size of one discovery response. gRPC's default (4 MiB) is
// smaller than the cluster or listener response of a large fleet; Envoy sets no limit.
const maxResponseSize = 1 << 30

// Options configure a Client.
type Options struct {
	// Address is the host:port of the xDS server. Required.
	Address string

	// NodeID and Cluster are the node's id and cluster, which servers use to choose the
	// configuration they serve (go-control-plane's NodeHash). NodeID defaults to
	// DefaultNodeID; Cluster may be empty.
	NodeID, Cluster string

	// Mode is the protocol variant spoken. Default SotW.
	Mode Mode

	// TLS is the client's TLS configuration: the CAs it trusts, the certificate it presents
	// and the server name it checks. Nil means plaintext, for servers in insecure mode only.
	TLS *tls.Config

	// NACK, if set, is called with every response that decoded correctly, before it is
	// applied: its type URL and its resources (for delta, those added or updated). A non-nil
	// error rejects the response: the client NACKs it with the error's message, as Envoy
	// does with a configuration it cannot load, and keeps its state. For tests; it is called
	// on Run's goroutine and must not block. A light client does not decode resources and
	// refuses NACK: use NACKRaw.
	NACK func(typeURL string, resources []proto.Message) error

	// NACKRaw is NACK for the resources as received, with their names and versions: it is
	// called before NACK, with the same responses, and rejects them in the same way. It
	// exists for light clients, and for hooks that look for one resource among many: they
	// decode only the resource they look for. The slice is valid during the call only (its
	// elements may be kept).
	NACKRaw func(typeURL string, resources []RawResource) error

	// Light makes the client keep, of each resource it accepts, a Summary (its version and a
	// fingerprint) instead of the decoded message, and decode only listeners and clusters,
	// for the names they reference, dropping them at once. On the wire the client behaves
	// the same, in both modes: it follows the references, and ACKs and NACKs with the same
	// versions and nonces; it NACKs what it cannot read (it only reads the top level of
	// route configurations, assignments and secrets: their names).
	//
	// Light exists to run many clients in one process: the fan-out benchmark
	// (BenchmarkFanout in package xds) runs 1,000 clients of a 4.8 MB configuration against
	// one server, where each full client would hold about 120 MiB of decoded resources and a
	// light one holds about 1 MiB. See Summaries, Pending and CheckComplete.
	Light bool
}

// Client is an ADS client that behaves like Envoy; see the package documentation. Create it
// with Dial, call Run once, and read its state with Snapshot or WaitFor from any goroutine.
// Close releases the connection.
type Client struct {
	conn *grpc.ClientConn
	opts Options

	// ran is set by the first Run.
	ran atomic.Bool

	// mu guards the fields below.
	mu    sync.Mutex
	state State
	// changed is closed, and replaced, whenever state changes.
	changed chan struct{}
	// stopped is closed when Run returns, after runErr is set.
	stopped chan struct{}
	runErr  error
}

// Dial validates o, connects to the server and waits until the connection is established
// (TLS included) or fails, or ctx is done. A connection or TLS failure is returned with its
// cause.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Address == "" {
		return nil, errors.New("invalid xDS client options: the server address is required")
	}
	if o.Mode != SotW && o.Mode != Delta {
		return nil, fmt.Errorf("invalid xDS client options: unknown mode %d", int(o.Mode))
	}
	if o.Light && o.NACK != nil {
		return nil, errors.New("invalid xDS client options: a light client does not decode resources for NACK; use NACKRaw")
	}
	if o.NodeID == "" {
		o.NodeID = DefaultNodeID
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	conn, err := grpc.NewClient(o.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseSize)),
		// Envoy's HTTP/2 flow-control windows (initial_stream_window_size and
		// initial_connection_window_size default to 256 MiB): with gRPC's 64 KiB, a 500 KB
		// route configuration would wait for window updates that an Envoy never makes the
		// server wait for.
		grpc.WithInitialWindowSize(envoyWindow),
		grpc.WithInitialConnWindowSize(envoyWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to the xDS server %s: %w", o.Address, err)
	}
	if err := waitReady(ctx, conn); err != nil {
		_ = conn.Close()
		if o.TLS != nil && ctx.Err() == nil {
			// gRPC's error may hide the TLS one (a broken pipe) or quote it; the TLS error is
			// the cause.
			if tlsErr := diagnoseTLS(ctx, o.Address, o.TLS); tlsErr != nil {
				err = fmt.Errorf("TLS: %w", tlsErr)
			}
		}
		return nil, fmt.Errorf("connecting to the xDS server %s: %w", o.Address, err)
	}
	return &Client{
		conn:    conn,
		opts:    o,
		state:   newState(o.Light),
		changed: make(chan struct{}),
		stopped: make(chan struct{}),
	}, nil
}

// waitReady connects conn and waits until it is ready, or fails, or ctx is done.
func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		state := conn.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			// The connection state does not say why it failed; an RPC that does not wait
			// for the connection fails at once with the cause.
			if err := connectionError(ctx, conn); err != nil {
				return err
			}
		case connectivity.Shutdown:
			return errors.New("the connection was closed")
		}
		if !conn.WaitForStateChange(ctx, state) {
			return fmt.Errorf("%w (connection %s)", ctx.Err(), state)
		}
	}
}

// connectionError is why conn cannot open a stream, or nil if it can (it recovered).
func connectionError(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		// "connection error: desc = ..." without "rpc error: code = Unavailable".
		return errors.New(status.Convert(err).Message())
	}
	return nil
}

// diagnoseTLS opens a TLS connection to address with config, as gRPC does, and returns
// why the server rejects it, if it does. In TLS 1.3 the client's side of the handshake ends
// before the server has checked the client's certificate: a rejection then arrives as an
// alert on the first read, and gRPC, which writes first, often only sees a broken pipe.
func diagnoseTLS(ctx context.Context, address string, config *tls.Config) error {
	config = config.Clone()
	config.NextProtos = []string{"h2"}
	if config.ServerName == "" {
		if host, _, err := net.SplitHostPort(address); err == nil {
			config.ServerName = host
		}
	}
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: config}).DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A server that accepts the connection sends its HTTP/2 settings at once.
	_ = conn.SetReadDeadline(time.Now().Add(diagnoseTimeout))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}

// diagnoseTimeout bounds diagnoseTLS.
const diagnoseTimeout = 5 * time.Second

// Close closes the connection, which ends Run if it is running. It may be called more
// than once.
func (c *Client) Close() error {
	err := c.conn.Close()
	if status.Code(err) == codes.Canceled {
		// Closed already.
		return nil
	}
	return err
}

// Run opens one ADS stream, subscribes and follows the server's responses (see the package
// documentation) until ctx is done, when it returns nil, or until the stream fails, when it
// returns why. It does not reconnect. Run logs through the logr.Logger in ctx and may be
// called once; it returns ErrAlreadyRun after that.
func (c *Client) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	err := c.run(ctx)
	if ctx.Err() != nil {
		err = nil
	} else {
		err = fmt.Errorf("%s ADS stream to %s: %w", c.opts.Mode, c.opts.Address, err)
	}
	c.mu.Lock()
	c.runErr = err
	close(c.stopped)
	c.mu.Unlock()
	return err
}

// protocol is one variant of xDS on an open stream.
type protocol interface {
	// watchAll subscribes to every resource of a type.
	watchAll(typeURL string) error
	// watch sends a change of the names subscribed to for a type.
	watch(c subscriptionChange) error
	// recv receives and decodes the next response.
	recv() (*response, error)
	// reply ACKs the response (cause nil) or NACKs it.
	reply(r *response, cause error) error
}

func (c *Client) run(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithValues("address", c.opts.Address, "mode", c.opts.Mode.String())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := c.open(ctx)
	if err != nil {
		return err
	}
	log.V(1).Info("opened ADS stream")
	for _, t := range wildcardTypes {
		if err := p.watchAll(t); err != nil {
			return c.streamError(p, err)
		}
	}
	for {
		r, err := p.recv()
		if err != nil {
			return recvError(err)
		}
		err = c.handle(log, p, r)
		r.release()
		if err != nil {
			return c.streamError(p, err)
		}
	}
}

// streamError is the error to report for a failed Send: gRPC returns io.EOF from Send when
// the stream has ended, and the reason from the next Recv.
func (c *Client) streamError(p protocol, err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		if _, err := p.recv(); err != nil {
			return recvError(err)
		}
	}
}

// recvError is the error to report for a failed Recv: io.EOF means that the server ended
// the stream without an error status.
func recvError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("the server closed the stream")
	}
	return err
}

// open opens the ADS stream of the configured mode.
func (c *Client) open(ctx context.Context) (protocol, error) {
	node := &corev3.Node{Id: c.opts.NodeID, Cluster: c.opts.Cluster}
	o := decodeOptions{light: c.opts.Light, raw: c.opts.NACKRaw != nil}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(c.conn)
	if c.opts.Mode == Delta {
		s, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return nil, err
		}
		return newDeltaStream(s, node, o), nil
	}
	s, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	return newSotwStream(s, node, o), nil
}

// handle accepts or rejects one response, replies, and sends the subscription changes it
// causes: a response is ACKed before the subscriptions it changes are sent, as Envoy does
// (it pauses EDS while it applies CDS).
func (c *Client) handle(log logr.Logger, p protocol, r *response) error {
	if r.unsolicited {
		log.Info("ignoring a response of a type not subscribed to", "type", r.typeURL)
		c.update(func(s *State) { s.Responses[r.typeURL]++ })
		return nil
	}
	cause := r.err
	if cause == nil && c.opts.NACKRaw != nil {
		cause = c.opts.NACKRaw(r.typeURL, r.raw)
	}
	if cause == nil && c.opts.NACK != nil {
		cause = c.opts.NACK(r.typeURL, r.list)
	}
	if cause != nil {
		log.Info("NACKing a response", "type", r.typeURL, "version", r.version, "nonce", r.nonce, "reason", cause.Error())
		c.update(func(s *State) {
			s.Responses[r.typeURL]++
			s.NACKs++
		})
		return p.reply(r, cause)
	}
	decoding := time.Since(r.received)
	log.V(2).Info("accepting a response", "type", r.typeURL, "version", r.version, "nonce", r.nonce,
		"resources", r.count(), "removed", len(r.removed), "decoding", decoding)
	var changes []subscriptionChange
	c.update(func(s *State) {
		s.Responses[r.typeURL]++
		s.LastReceived, s.LastDecoding = r.received, decoding
		// Only listeners and clusters name what is subscribed to (route configurations,
		// assignments, secrets); other responses cannot change the subscriptions.
		switch {
		case !r.light && slices.Contains(wildcardTypes, r.typeURL):
			s.apply(r)
			changes = s.resubscribe()
		case !r.light:
			s.apply(r)
		case slices.Contains(wildcardTypes, r.typeURL):
			s.applyLight(r)
			changes = s.resubscribeLight()
		default:
			s.applyLight(r)
		}
	})
	if err := p.reply(r, nil); err != nil {
		return err
	}
	for _, ch := range changes {
		log.V(1).Info("changing subscriptions", "type", ch.typeURL, "subscribe", ch.added, "unsubscribe", ch.removed)
		if err := p.watch(ch); err != nil {
			return err
		}
	}
	return nil
}

// update changes the state with fn and wakes up the waiters.
func (c *Client) update(fn func(*State)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(&c.state)
	close(c.changed)
	c.changed = make(chan struct{})
}

// Snapshot returns a copy of the current state.
func (c *Client) Snapshot() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handOut()
}

// handOut returns a copy of the state to hand out; c.mu must be held. A light client's copy
// shares its large tables (handOutLight), so that waiting on many light clients does not
// copy them at every change.
func (c *Client) handOut() State {
	if c.opts.Light {
		return handOutLight(c.state)
	}
	return c.state.clone()
}

// WaitFor returns the first state for which cond holds: the current one, or one after a
// later change (cond is called again after every change, on the caller's goroutine). It
// returns the last state seen and an error when ctx is done first, or when Run has
// returned (ErrStopped, wrapping Run's error, if any).
func (c *Client) WaitFor(ctx context.Context, cond func(State) bool) (State, error) {
	for {
		c.mu.Lock()
		s := c.handOut()
		changed, stopped := c.changed, c.stopped
		c.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-stopped:
			// The state is final; it may have changed since the copy.
			c.mu.Lock()
			s, runErr := c.handOut(), c.runErr
			c.mu.Unlock()
			switch {
			case cond(s):
				return s, nil
			case runErr != nil:
				return s, fmt.Errorf("%w: %w", ErrStopped, runErr)
			}
			return s, ErrStopped
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}
