package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/projectwarden/warden/envoy/shutdown"
	"github.com/projectwarden/warden/xds/bootstrap"
)

func newBootstrapCommand() *cobra.Command {
	var o bootstrap.Options
	cmd := &cobra.Command{
		Use:   "bootstrap PATH|-",
		Short: "Write an Envoy v3 bootstrap that points at Warden's xDS server (Envoy's init container)",
		Long: `bootstrap writes Envoy's bootstrap JSON: a static "warden" cluster (HTTP/2, keepalive) for ADS,
admin on a unix socket, and, with --resources-dir, SDS-from-files resources for the xDS client
certificate and CA, watched so that certificate rotation reaches Envoy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if args[0] != "-" {
				f, err := os.Create(args[0])
				if err != nil {
					return &exitError{code: 2, msg: err.Error()}
				}
				defer f.Close()
				out = f
			}
			if err := bootstrap.Write(out, o); err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.XDSAddress, "xds-address", "warden", "address (DNS name or IP) of Warden's xDS server")
	fl.Uint32Var(&o.XDSPort, "xds-port", 8001, "port of Warden's xDS server")
	fl.BoolVar(&o.Delta, "delta", false, "use incremental (delta) ADS")
	fl.StringVar(&o.AdminSocket, "admin-socket", "/admin/admin.sock", "Envoy admin unix socket")
	fl.StringVar(&o.NodeID, "node-id", "", "Envoy node.id (default: see the package doc of xds/bootstrap)")
	fl.StringVar(&o.Cluster, "cluster", "", "Envoy node.cluster")
	fl.StringVar(&o.CAFile, "envoy-cafile", "", "CA that signed Warden's xDS server certificate (absolute path)")
	fl.StringVar(&o.CertFile, "envoy-cert-file", "", "Envoy's client certificate (absolute path)")
	fl.StringVar(&o.KeyFile, "envoy-key-file", "", "Envoy's client key (absolute path)")
	fl.StringVar(&o.ResourcesDir, "resources-dir", "", "directory for the SDS resource files Envoy watches")
	return cmd
}

func newEnvoyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "envoy", Short: "Commands that run beside Envoy"}
	var o shutdown.Options
	sm := &cobra.Command{
		Use:   "shutdown-manager",
		Short: "Serve /healthz and /shutdown; on shutdown, drain Envoy before its pod stops",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := shutdown.New(o)
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			return m.Run(cmd.Context())
		},
	}
	fl := sm.Flags()
	fl.StringVar(&o.Address, "address", ":8090", "address serving /healthz and /shutdown")
	fl.StringVar(&o.AdminSocket, "admin-socket", "/admin/admin.sock", "Envoy admin unix socket")
	fl.DurationVar(&o.CheckDelay, "check-delay", 60*time.Second, "wait after failing Envoy's health check before counting connections")
	fl.DurationVar(&o.CheckInterval, "check-interval", 5*time.Second, "interval between connection counts")
	fl.IntVar(&o.MinOpenConnections, "min-open-connections", 0, "drain is done at or below this many open connections")
	fl.DurationVar(&o.DrainTimeout, "drain-timeout", 4*time.Minute, "give up draining after this long (keep below terminationGracePeriodSeconds)")
	cmd.AddCommand(sm)
	return cmd
}
