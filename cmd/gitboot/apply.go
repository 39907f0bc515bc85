package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/serve"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newApplyCmd() *cobra.Command {
	var f planFlags
	var autoApprove bool
	cmd := &cobra.Command{
		Use:   "apply [PLAN | --repo R --ref REF] [--state DIR | --server URL] [--auto-approve]",
		Short: "Apply a saved plan, or plan and apply a commit",
		Long: "With a saved plan (gitboot plan --out PLAN), apply exactly that plan; it is refused as stale\n" +
			"when the running state changed since it was made. Without one, plan --ref of --repo, show\n" +
			"the plan and apply it after you answer yes (on a terminal) or with --auto-approve.\n" +
			"With --server URL the running server applies it (POST /apply, from the server's host only);\n" +
			"with --state DIR (no server running on it) gitboot builds and records it there itself,\n" +
			"and the next gitboot serve on that directory serves it.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// --require-signed is recorded in --state before anything else.
			if _, err := f.policy("gitboot apply", true); err != nil {
				return err
			}
			var p *reconcile.Plan
			var err error
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				if cmd.Flags().Changed("ref") {
					return errors.New("give a saved plan or --ref, not both")
				}
				if p, err = readPlan(args[0]); err != nil {
					return err
				}
				if err := verifySavedPlan(cmd, f, p); err != nil {
					return err
				}
			} else {
				if p, err = makePlan(cmd, f); err != nil {
					return err
				}
				if err := p.WriteText(w, isTerminal(w)); err != nil {
					return err
				}
				if !p.HasChanges() {
					return nil
				}
				if !autoApprove {
					ok, err := confirm(cmd)
					if err != nil {
						return err
					}
					if !ok {
						fmt.Fprintln(w, "\nApply cancelled.")
						return exitError{1}
					}
				}
			}
			var ev *serve.ApplyResult
			if f.server != "" {
				ev, err = client.Apply(cmd.Context(), f.server, p, f.force)
			} else {
				ev, err = applyLocal(cmd, f, p)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\nApply complete: commit %s %s. %d added, %d changed, %d destroyed.\n",
				reconcile.Short(ev.Commit), ev.Result, ev.Add, ev.Change, ev.Destroy)
			if len(ev.NeedsReboot) > 0 {
				fmt.Fprintf(w, "Reboot to pick the change up: %s\n", strings.Join(ev.NeedsReboot, ", "))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking")
	cmd.Flags().BoolVar(&f.force, "force", false, "apply a saved plan even when its commit is not on the tracked branch (--ref, or the server's)")
	return cmd
}

// confirm asks for "yes" on a terminal.
func confirm(cmd *cobra.Command) (bool, error) {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return false, errors.New("not a terminal to ask on: review the plan and use --auto-approve, or save it with plan --out and apply the file")
	}
	fmt.Fprint(cmd.OutOrStdout(), "\nDo you want to apply this plan?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return strings.TrimSpace(line) == "yes", nil
}

// applyLocal applies p to the state directory itself (no server runs on
// it: the lock says so).
func applyLocal(cmd *cobra.Command, f planFlags, p *reconcile.Plan) (*serve.ApplyResult, error) {
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return nil, err
	}
	roots, err := f.roots.roots()
	if err != nil {
		return nil, err
	}
	policy, err := f.policy("gitboot apply", true)
	if err != nil {
		return nil, err
	}
	log, _ := newLogger(cmd.ErrOrStderr(), "text")
	ev, err := serve.ApplyLocal(cmd.Context(), serve.LocalConfig{Repo: f.repo, Ref: f.ref, State: f.state, Server: f.block,
		Vars: opts.Vars, Roots: roots, Logger: log, Policy: policy, Force: f.force, AgeIdentities: f.age.files}, p)
	if err != nil {
		return nil, configErr(cmd.ErrOrStderr(), err, f.repo, "")
	}
	return serve.ResultOf(ev, nil), nil
}
