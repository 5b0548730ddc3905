package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	policyv1alpha1 "github.com/projectwarden/warden/apis/policy/v1alpha1"
	"github.com/projectwarden/warden/check"
	"github.com/projectwarden/warden/config"
	"github.com/projectwarden/warden/policy"
)

type checkFlags struct {
	files    []string
	config   string
	policies []string
	output   string
}

func newCheckCommand() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check -f PATH [-f PATH...] [--config FILE] [--policy PATH...] [-o text|json]",
		Short: "Run Warden's admission decisions offline over manifests",
		Long: `check applies the manifests in order as successive admission requests (CREATE, UPDATE
when the same kind/namespace/name was seen, DELETE with annotation
warden.dev/check-operation: DELETE). A denied object is not stored, as the API server
would not store it. It then prints the status of every stored HTTPProxy.

Exit status: 0 when every request was allowed, 1 when any was denied, 2 when the input
or configuration cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd, f) },
	}
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "manifest file or directory (sorted by name); - for stdin; repeatable")
	cmd.Flags().StringVar(&f.config, "config", "", "warden.yaml (default: built-in defaults)")
	cmd.Flags().StringArrayVar(&f.policies, "policy", nil, "DelegationPolicy manifests already active before the input; repeatable")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func runCheck(cmd *cobra.Command, f checkFlags) error {
	if f.output != "text" && f.output != "json" {
		return &exitError{code: 2, msg: fmt.Sprintf("--output must be text or json, not %q", f.output)}
	}
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
	}
	ctx := cmd.Context()
	d, err := policy.NewDecider(ctx, cfg.PolicySettings())
	if err != nil {
		return err
	}
	scheme, err := check.Scheme()
	if err != nil {
		return err
	}
	if len(f.policies) > 0 {
		_, pols, err := check.Load(f.policies, cmd.InOrStdin(), scheme)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		for i, p := range pols {
			if _, ok := p.(*policyv1alpha1.DelegationPolicy); !ok {
				return &exitError{code: 2, msg: fmt.Sprintf("--policy %v: document %d is not a DelegationPolicy", f.policies, i+1)}
			}
			if err := d.Apply(ctx, p); err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
		}
	}
	docs, objs, err := check.Load(f.files, cmd.InOrStdin(), scheme)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	report, err := check.Run(ctx, d, docs, objs, time.Now().Truncate(time.Second))
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.output == "json" {
		err = check.WriteJSON(out, report)
	} else {
		err = check.WriteText(out, report)
	}
	if err != nil {
		return err
	}
	if !report.Allowed() {
		return &exitError{code: 1}
	}
	return nil
}
