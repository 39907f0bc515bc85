package main

import (
	"fmt"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/internal/sshhostkeys"
	"github.com/spf13/cobra"
)

func newSSHHostKeysCmd() *cobra.Command {
	var repo string
	var recipients, vars []string
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
			nodes, err := sshKeyNodes(cmd, repo, vars, args)
			if err != nil {
				return err
			}
			rs, from, err := sshhostkeys.Recipients(repo, recipients)
			if err != nil {
				return err
			}
			results, err := sshhostkeys.Generate(repo, nodes, rs, nil)
			w := cmd.OutOrStdout()
			n := 0
			for _, r := range results {
				for _, f := range r.Written {
					fmt.Fprintf(w, "wrote %s\n", f)
					n++
				}
				if len(r.Kept) > 0 {
					fmt.Fprintf(w, "%s: kept its %s keys\n", r.Node, strings.Join(r.Kept, ", "))
				}
			}
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintln(w, "Every node has its host keys: nothing written.")
			} else {
				fmt.Fprintf(w, "Wrote %d files, private keys encrypted to the recipients of %s: commit and push them.\n", n, from)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", ".", "the repository's working tree")
	cmd.Flags().StringArrayVar(&recipients, "recipient", nil, "an age recipient (age1...) to encrypt the private keys to (repeatable; default: the lines of "+sshhostkeys.RecipientsFile+")")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	return cmd
}

// sshKeyNodes evaluates the repository in dir and returns the named nodes
// (each must be declared) or, with none named, all its nodes.
func sshKeyNodes(cmd *cobra.Command, dir string, vars, named []string) ([]string, error) {
	opts, err := loadOptions(dir, vars)
	if err != nil {
		return nil, err
	}
	fsys, closeFS, err := openRepoDir(dir)
	if err != nil {
		return nil, err
	}
	defer closeFS()
	c, diags := hclspec.Load(fsys, opts)
	if diags.HasErrors() {
		writeDiagnostics(cmd.ErrOrStderr(), diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags), diags)
		return nil, exitError{1}
	}
	if len(named) == 0 {
		out := make([]string, 0, len(c.Nodes))
		for _, n := range c.Nodes {
			out = append(out, n.Name)
		}
		return out, nil
	}
	for _, n := range named {
		if _, ok := c.Node(n); !ok {
			return nil, fmt.Errorf("%s declares no node %s", dir, n)
		}
	}
	return named, nil
}
