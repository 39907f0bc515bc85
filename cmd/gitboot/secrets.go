package main

import (
	"fmt"

	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ageFlags are --age-identity, for the commands that build or check
// artifacts (serve, plan, apply) and `secrets recipient`.
type ageFlags struct {
	files []string
}

func (a *ageFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&a.files, "age-identity", nil, "age identity file that decrypts the repository's .age secrets (repeatable; default: STATE/"+agesecret.DefaultFile+", created at first start)")
}

func newSecretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Age-encrypted secrets in the repository: the server's recipient",
		Long: "A repository file ending in .age is encrypted with age to the server's identity (--age-identity,\n" +
			"or STATE/" + agesecret.DefaultFile + " created at first start). In an overlay, x.age is delivered\n" +
			"decrypted as x; a template reads one with secret \"PATH\". Secrets may only be in runtime overlays\n" +
			"served in secure mode (secure_runtime = true); plans, notes and pages show them as (sensitive).",
	}
	cmd.AddCommand(newSecretsRecipientCmd(), newSSHHostKeysCmd())
	return cmd
}

func newSecretsRecipientCmd() *cobra.Command {
	var state string
	var age ageFlags
	cmd := &cobra.Command{
		Use:   "recipient [--state DIR] [--age-identity FILE]...",
		Short: "Print the public age recipient operators encrypt secrets to",
		Long: "Print the server's public age recipient (age1...): encrypt a secret to it with\n" +
			"  age -r RECIPIENT -o overlays/x/etc/munge/munge.key.age munge.key\n" +
			"The identity is read from --age-identity, or from STATE/" + agesecret.DefaultFile + ", which is\n" +
			"created (mode 0600) when it does not exist yet, as gitboot serve would at its first start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := agesecret.Open(state, age.files, true)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), k.Recipient())
			return err
		},
	}
	cmd.Flags().StringVar(&state, "state", "/var/lib/gitboot", "state directory of the server")
	age.register(cmd.Flags())
	return cmd
}
