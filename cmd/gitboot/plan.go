package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

// planFlags are the flags plan and apply share.
type planFlags struct {
	repo, ref, state, server, block string
	bmcCreds                        string
	vars                            []string
	signing                         signingFlags
	roots                           rootFlags
	force                           bool // apply only: a plan of a commit off --ref

	age ageFlags
}

func (f *planFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", ".", "git repository (a path): the committed tree of --ref is planned, never the work tree")
	fl.StringVar(&f.ref, "ref", "main", "branch, tag or commit to plan")
	fl.StringVar(&f.state, "state", "/var/lib/gitboot", "state directory of the server whose running inventory is compared (when --server is not given; plan without either asks the admin listener)")
	fl.StringVar(&f.server, "server", "", "URL of a running gitboot serve: its running inventory (GET /inventory) is compared")
	fl.StringVar(&f.block, "server-block", "", "server block to plan for (default: the running one, or the only one)")
	fl.StringArrayVar(&f.vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.StringVar(&f.bmcCreds, "bmc-credentials", "", "BMC credentials file: check that it defines every credentials name the nodes' bmc blocks use")
	f.signing.register(fl)
	f.roots.register(fl)
	f.age.register(fl)
}

// policy is the signature policy plan and apply enforce: the one bound
// to --state (recorded there when record is set), or with --server the
// flags' (the server enforces its own on POST /apply).
func (f planFlags) policy(command string, record bool) (*gitsrc.Policy, error) {
	if f.server != "" {
		return f.signing.policy()
	}
	return f.signing.enforced(f.state, command, record)
}

func newPlanCmd() *cobra.Command {
	var f planFlags
	var out string
	var asJSON, detailed bool
	cmd := &cobra.Command{
		Use:   "plan [--repo R] [--ref REF] [--state DIR | --server URL] [--out FILE] [--json] [--detailed-exitcode]",
		Short: "Show what applying a commit would change in the running state",
		Long: "Plan compares the desired state of a commit (the HCL model, every overlay file and template,\n" +
			"file() inputs and each image's content) with the running inventory of a server (its state\n" +
			"directory, or GET /inventory of a running server with --server) and prints the difference:\n" +
			"+ create, ~ update, - destroy, -/+ replace, the nodes that need a reboot, and a summary.\n" +
			"An image whose source is not readable here shows (known after apply). Nothing is changed.\n" +
			"--out saves the plan for `gitboot apply FILE`, bound to the commit and the running state.\n" +
			"Exit status: 0 success; with --detailed-exitcode 0 no changes, 1 error, 2 changes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.server = planServer(cmd, f)
			p, err := makePlan(cmd, f)
			if err != nil {
				return err
			}
			if out != "" {
				if err := savePlan(out, p); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				if err := writePlanJSON(w, p); err != nil {
					return err
				}
			} else {
				if err := p.WriteText(w, isTerminal(w)); err != nil {
					return err
				}
				if out != "" {
					fmt.Fprintf(w, "\nSaved the plan to %s. Apply exactly this plan with:\n    gitboot apply %s\n", out, out)
				}
			}
			if detailed && p.HasChanges() {
				return exitError{2}
			}
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("server").Usage = "URL of a running gitboot serve's admin listener: its running inventory (GET /inventory) is compared (default " +
		defaultServerURL + " unless --state is given)"
	fl.StringVar(&out, "out", "", "save the plan to FILE (for gitboot apply FILE)")
	fl.BoolVar(&asJSON, "json", false, "print the plan as JSON (format_version "+reconcile.PlanFormatVersion+", see README)")
	fl.BoolVar(&detailed, "detailed-exitcode", false, "exit 0 when there are no changes, 1 on error, 2 when there are changes")
	return cmd
}

// planServer is the server plan asks: --server, else serve's admin
// listener at its default address unless --state names a state directory
// to read instead.
func planServer(cmd *cobra.Command, f planFlags) string {
	if f.server != "" || cmd.Flags().Changed("state") {
		return f.server
	}
	return defaultServerURL
}

// makePlan plans f.ref of f.repo against the running inventory (of
// --server or --state); an invalid commit prints its diagnostics.
func makePlan(cmd *cobra.Command, f planFlags) (*reconcile.Plan, error) {
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return nil, err
	}
	policy, err := f.policy("gitboot plan", false)
	if err != nil {
		return nil, err
	}
	src, err := gitsrc.Open(f.repo)
	if err != nil {
		return nil, err
	}
	ref := f.ref
	if policy != nil {
		// Check the commit the ref names now, then plan that very commit.
		if ref, err = checkSigned(cmd, src, policy, f.ref, "plan "+f.ref+" of "+f.repo); err != nil {
			return nil, err
		}
	}
	running, data, err := runningInventory(cmd.Context(), f)
	if err != nil {
		return nil, err
	}
	// The variables the server applied with, unless given here (CI has
	// not the server's --var values).
	opts.Vars = reconcile.WithRunningVars(opts.Vars, running)
	var roots hclspec.PathChecker = client.Roots{Ctx: cmd.Context(), Base: strings.TrimRight(f.server, "/")}
	if err := f.roots.registry.apply(); err != nil { // plan resolves registry tags here
		return nil, err
	}
	if f.server == "" {
		if roots, err = f.roots.roots(); err != nil {
			return nil, err
		}
	}
	state := "" // a remote server's images are checked by its build
	if f.server == "" {
		state = f.state
	}
	p, err := reconcile.PlanCommitSecrets(state, f.age.files, src, ref, opts.Vars, f.block, roots, running, data)
	if err != nil {
		return nil, configErr(cmd.ErrOrStderr(), err, f.repo, ": it would be rejected.")
	}
	if err := checkPlanCredentials(cmd.ErrOrStderr(), f, p.Desired); err != nil {
		return nil, err
	}
	return p, nil
}

// runningInventory reads the running inventory from --server (GET
// /inventory) or from --state; nil when nothing was applied yet.
func runningInventory(ctx context.Context, f planFlags) (*reconcile.Inventory, []byte, error) {
	if f.server == "" {
		return reconcile.ReadInventory(f.state)
	}
	return client.Inventory(ctx, f.server)
}

// writePlanJSON prints the plan as JSON, without the desired state a
// saved plan carries.
func writePlanJSON(w io.Writer, p *reconcile.Plan) error {
	cp := *p
	cp.Desired = nil
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&cp)
}

func savePlan(path string, p *reconcile.Plan) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return nil
}

// readPlan reads a saved plan (gitboot plan --out) from path.
func readPlan(path string) (*reconcile.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the plan: %w", err)
	}
	return reconcile.DecodePlan(data, path)
}
