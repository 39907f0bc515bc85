package main

import "github.com/spf13/cobra"

// newSecretsCmd groups the commands that make age-encrypted secrets for
// the repository.
func newSecretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Make encrypted secrets for the repository",
	}
	cmd.AddCommand(newSSHHostKeysCmd())
	return cmd
}
