package main

import (
	"errors"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/serve"
	"github.com/spf13/cobra"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy set|show --state DIR",
		Short: "Show or change the signature policy bound to a state directory",
		Long: "The signature policy (--require-signed --trusted-keys of serve and apply) is recorded in the\n" +
			"state directory the first time it is given, with a copy of the trusted keys; from then on\n" +
			"serve, apply, plan --out, apply FILE and the restore at start enforce it with or without the\n" +
			"flags. policy set is the only way to change it, and records who and when in the state and\n" +
			"in a git note (policy record) on the applied commit.",
	}
	cmd.AddCommand(newPolicyShowCmd(), newPolicySetCmd())
	return cmd
}

func newPolicyShowCmd() *cobra.Command {
	var state string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --state DIR [--json]",
		Short: "Show the signature policy recorded in a state directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return reconcile.ShowPolicy(cmd.OutOrStdout(), state, asJSON)
		},
	}
	cmd.Flags().StringVar(&state, "state", "/var/lib/gitboot", "state directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the recorded policy as JSON")
	return cmd
}

func newPolicySetCmd() *cobra.Command {
	var state, keys, repo string
	var require bool
	cmd := &cobra.Command{
		Use:   "set --require-signed=BOOL [--trusted-keys FILE] --state DIR [--repo R]",
		Short: "Change the signature policy of a state directory (the only way to loosen it)",
		Long: "Record a new signature policy in --state: --require-signed=true --trusted-keys FILE requires\n" +
			"signatures by those keys (a copy is recorded), --require-signed=false accepts every commit.\n" +
			"Who (user@host) and when is recorded in the state directory and, as a policy record, in a git\n" +
			"note on the applied commit of --repo (default: the state's mirror of a remote source). A\n" +
			"running gitboot serve keeps the policy it started with until it is restarted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("require-signed") {
				return errors.New("say what to record: --require-signed=true --trusted-keys FILE, or --require-signed=false")
			}
			return serve.SetPolicy(cmd.OutOrStdout(), state, repo, keys, require)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&require, "require-signed", true, "require commits signed by a key in --trusted-keys")
	fl.StringVar(&keys, "trusted-keys", "", "the trusted keys (armored OpenPGP public keys and/or SSH allowed_signers lines); a copy is recorded")
	fl.StringVar(&state, "state", "/var/lib/gitboot", "state directory")
	fl.StringVar(&repo, "repo", "", "repository whose notes record the change (default: STATE/source, the mirror of a remote source)")
	return cmd
}
