package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/serve"
	"github.com/projectwarden/warden/webhook"
	"github.com/projectwarden/warden/webhook/server"
	xdsserver "github.com/projectwarden/warden/xds/server"
	"github.com/projectwarden/warden/xds/translate"
)

type serveFlags struct {
	config         string
	kubeconfig     string
	bindAddress    string
	port           int
	certFile       string
	keyFile        string
	webhookTimeout time.Duration
	devLogs        bool
	writeStatus    bool
	leaderElect    bool
	leaderNS       string
	qps            float32
	burst          int
	statusWorkers  int
	xdsAddress     string
	xdsCA          string
	xdsCert        string
	xdsKey         string
	xdsInsecure    bool
	httpPort       uint32
	httpsPort      uint32
	pprofAddress   string
	memoryLimit    string
	gcPercent      string
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhooks, the controller (status, routing model) and the xDS server",
		Long: `serve watches HTTPProxies, TLSCertificateDelegations, DelegationPolicies, Namespaces,
Services and Secret metadata, and answers admission reviews on /validate and /mutate over
HTTPS, with /healthz, /readyz (ready once every informer has synced) and /metrics.
The serving certificate and key are re-read when the files change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "warden.yaml (default: built-in defaults)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG / ~/.kube/config)")
	fl.StringVar(&f.bindAddress, "bind-address", "0.0.0.0", "address the HTTPS server listens on")
	fl.IntVar(&f.port, "port", server.DefaultPort, "port the HTTPS server listens on")
	fl.StringVar(&f.certFile, "tls-cert-file", "/certs/tls.crt", "serving certificate (PEM), re-read on change")
	fl.StringVar(&f.keyFile, "tls-private-key-file", "/certs/tls.key", "serving key (PEM), re-read on change")
	fl.DurationVar(&f.webhookTimeout, "webhook-timeout", webhook.DefaultTimeout, "deadline for one admission decision; keep it below the webhook configuration's timeoutSeconds")
	fl.BoolVar(&f.devLogs, "dev-logs", false, "human-readable logs instead of JSON")
	fl.BoolVar(&f.writeStatus, "write-status", true, "write HTTPProxy status (only the leader writes when --leader-elect)")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "elect one status writer among replicas (Lease warden-status)")
	fl.StringVar(&f.leaderNS, "leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace)")
	// No client-side token bucket by default, as controller-runtime's own config loader
	// does: the API server protects itself with priority and fairness (it queues, then
	// answers 429, which client-go retries), and Warden bounds its own load by concurrency,
	// not rate: at most --status-workers status writes are in flight, so when the API server
	// slows down, so do the writes. A token bucket only adds waiting when the API server
	// has room: 200/s made the 9,000 status writes of a 5,000-HTTPProxy bulk create take 45 s
	// (5 QPS, client-go's default, is what made Contour take minutes at scale).
	fl.Float32Var(&f.qps, "kube-api-qps", -1, "client-side limit of requests per second to the API server (status writes, live reads); negative: none, rely on the API server's priority and fairness")
	fl.IntVar(&f.burst, "kube-api-burst", 400, "burst of requests to the API server, when --kube-api-qps is positive")
	fl.IntVar(&f.statusWorkers, "status-workers", serve.DefaultStatusWorkers, "status writes in flight at once: the bound on Warden's write load on the API server")
	fl.StringVar(&f.xdsAddress, "xds-address", "0.0.0.0:8001", "address of the xDS (ADS) gRPC server; empty disables xDS")
	fl.StringVar(&f.xdsCA, "xds-ca-file", "/xds-certs/ca.crt", "CA that signs Envoy client certificates (cert-manager's ca.crt), re-read on change")
	fl.StringVar(&f.xdsCert, "xds-cert-file", "/xds-certs/tls.crt", "xDS server certificate, re-read on change")
	fl.StringVar(&f.xdsKey, "xds-key-file", "/xds-certs/tls.key", "xDS server key, re-read on change")
	fl.BoolVar(&f.xdsInsecure, "xds-insecure", false, "serve xDS without TLS: for local use only, never in a cluster")
	fl.Uint32Var(&f.httpPort, "envoy-http-port", 8080, "Envoy's HTTP listener port (ingress_http)")
	fl.Uint32Var(&f.httpsPort, "envoy-https-port", 8443, "Envoy's HTTPS listener port (ingress_https)")
	// Off by default: profiles expose internals and cost CPU while taken. For measuring
	// (BenchmarkScale's WARDEN_SCALE_PPROF) and for debugging a live replica.
	fl.StringVar(&f.pprofAddress, "pprof-bind-address", "", "address of a plain-HTTP net/http/pprof server (e.g. 127.0.0.1:6060); empty (default) serves none")
	fl.StringVar(&f.memoryLimit, "memory-limit", "", "Go soft memory limit (GOMEMLIMIT), a quantity such as 230Mi; 0: none; default: GOMEMLIMIT if set, else 90% of the container's memory limit if it has one")
	fl.StringVar(&f.gcPercent, "gc-percent", "", "Go GC target heap growth in percent (GOGC), or off; default: GOGC if set, else "+strconv.Itoa(defaultGCPercent))
	return cmd
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	rest, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("connecting to the API server: %v", err)}
	}
	rest.QPS, rest.Burst = f.qps, f.burst
	// Milliseconds in the human-readable logs: a change's way through the pipeline and the
	// xDS push takes tens of them.
	logger := ctrlzap.New(ctrlzap.UseDevMode(f.devLogs), func(o *ctrlzap.Options) {
		if f.devLogs {
			o.TimeEncoder = zapcore.ISO8601TimeEncoder
		}
	})
	ctrllog.SetLogger(logger) // libraries that log through controller-runtime's global logger
	limit, from, err := setMemoryLimit(f.memoryLimit)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if limit > 0 {
		logger.Info("Go soft memory limit", "bytes", limit, "from", from)
	}
	gc, from, err := setGCPercent(f.gcPercent)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	logger.Info("Go GC target heap growth", "percent", gc, "from", from)
	var xdsOpts *serve.XDSOptions
	if f.xdsAddress != "" {
		if f.xdsInsecure { // the certificate flags' defaults do not apply
			f.xdsCA, f.xdsCert, f.xdsKey = "", "", ""
		}
		xdsOpts = &serve.XDSOptions{
			Server:    xdsserver.Options{Address: f.xdsAddress, CAFile: f.xdsCA, CertFile: f.xdsCert, KeyFile: f.xdsKey, Insecure: f.xdsInsecure},
			Translate: translate.Options{HTTPPort: f.httpPort, HTTPSPort: f.httpsPort},
		}
	}
	return serve.Run(cmd.Context(), serve.Options{
		XDS:                     xdsOpts,
		Config:                  cfg,
		REST:                    rest,
		WriteStatus:             f.writeStatus,
		StatusWorkers:           f.statusWorkers,
		LeaderElection:          f.leaderElect,
		LeaderElectionNamespace: f.leaderNS,
		Server: server.Options{
			BindAddress: f.bindAddress, Port: f.port, CertFile: f.certFile, KeyFile: f.keyFile,
		},
		WebhookTimeout:   f.webhookTimeout,
		Logger:           logger,
		PprofBindAddress: f.pprofAddress,
	})
}
