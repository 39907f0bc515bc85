package main

import (
	"github.com/gitboot/gitboot/internal/sshhostkeys"
	"github.com/spf13/cobra"
)

func newSSHHostKeysCmd() *cobra.Command {
	var c sshhostkeys.Command
	cmd := &cobra.Command{
		Use:   "ssh-host-keys [--repo DIR] [--recipient R]... [NODE...]",
		Short: "Generate the nodes' SSH host keys, encrypted, into the repository",
		Long: "ssh-host-keys generates ed25519, ecdsa and rsa SSH host keys for every node of the\n" +
			"repository in --repo (a working tree) that has none, or for the named nodes, and writes\n" +
			"them under " + sshhostkeys.Root + "/NODE/: each private key encrypted with age to the\n" +
			"recipients (--recipient, else the lines of " + sshhostkeys.RecipientsFile + "), its .pub\n" +
			"in clear. Existing keys are never replaced. Commit and push them; the builtin overlay\n" +
			"ssh_host_keys places them on the nodes, with the cluster's ssh_known_hosts.",
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.Run(cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
		},
	}
	cmd.Flags().StringVar(&c.Repo, "repo", ".", "the repository's working tree")
	cmd.Flags().StringArrayVar(&c.Recipients, "recipient", nil, "an age recipient (age1...) to encrypt the private keys to (repeatable; default: the lines of "+sshhostkeys.RecipientsFile+")")
	cmd.Flags().StringArrayVar(&c.Vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	return cmd
}
