package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
	"github.com/spf13/cobra"
)

// enforced returns the signature policy a command on stateDir enforces:
// the one recorded there, or the flags' (recorded when record is set).
func (f signingFlags) enforced(stateDir, command string, record bool) (*gitsrc.Policy, error) {
	keys, _, err := reconcile.EnforcedPolicy(stateDir, reconcile.PolicyFlags{Require: f.require, KeysFile: f.keys, Command: command}, record)
	return keys, err
}

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
			p, err := reconcile.ReadPolicy(state)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				if p == nil {
					p = &reconcile.StatePolicy{Version: reconcile.PolicyVersion}
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			switch {
			case p == nil:
				fmt.Fprintf(w, "No signature policy is recorded in %s: every commit is accepted.\n", state)
				return nil
			case p.RequireSigned:
				fmt.Fprintf(w, "Only commits signed by a trusted key are applied.\n")
				fmt.Fprintf(w, "Trusted keys: copied from %s (sha256 %s)\n", p.KeysFrom, p.KeysSHA256)
			default:
				fmt.Fprintf(w, "Signatures are not required: every commit is accepted.\n")
			}
			fmt.Fprintf(w, "Set by %s at %s with %s.\n", p.SetBy, p.SetAt.Format(time.RFC3339), p.SetWith)
			for _, h := range p.History {
				fmt.Fprintf(w, "  before: require_signed=%t by %s at %s with %s\n", h.RequireSigned, h.SetBy, h.SetAt.Format(time.RFC3339), h.SetWith)
			}
			return nil
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
			inv, _, err := reconcile.ReadInventory(state)
			if err != nil {
				return err
			}
			if repo == "" {
				if mirror := filepath.Join(state, "source"); isDir(mirror) {
					repo = mirror
				}
			}
			if inv != nil && repo == "" {
				return fmt.Errorf("commit %s is applied in %s: give --repo (the repository gitboot serve reads) to record the change in its notes", reconcile.Short(inv.Commit), state)
			}
			var n *notes.Notes
			if inv != nil {
				if n, err = notes.Open(repo); err != nil {
					return err
				}
			}
			old, next, err := reconcile.SetPolicy(state, require, keys, "gitboot policy set")
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if inv != nil {
				rec := notes.Policy(state, next.SetAt, next.RequireSigned, next.KeysSHA256, next.SetBy)
				if err := n.Update(map[string]func([]notes.Record) []notes.Record{inv.Commit: notes.AppendUnique(rec)}, "gitboot policy set"); err != nil {
					return fmt.Errorf("the policy is recorded in %s, but not in the notes of %s: %w", state, repo, err)
				}
				fmt.Fprintf(w, "Recorded in the note of the applied commit %s in %s.\n", reconcile.Short(inv.Commit), repo)
			}
			was := "no policy"
			if old != nil {
				was = fmt.Sprintf("require_signed=%t", old.RequireSigned)
			}
			fmt.Fprintf(w, "Signature policy of %s: require_signed=%t (was %s), set by %s.\n", state, next.RequireSigned, was, next.SetBy)
			fmt.Fprintln(w, "A running gitboot serve on this state keeps the policy it started with: restart it.")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&require, "require-signed", true, "require commits signed by a key in --trusted-keys")
	fl.StringVar(&keys, "trusted-keys", "", "the trusted keys (armored OpenPGP public keys and/or SSH allowed_signers lines); a copy is recorded")
	fl.StringVar(&state, "state", "/var/lib/gitboot", "state directory")
	fl.StringVar(&repo, "repo", "", "repository whose notes record the change (default: STATE/source, the mirror of a remote source)")
	return cmd
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
