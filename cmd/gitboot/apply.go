package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
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
			var ev *applyResult
			if f.server != "" {
				ev, err = applyRemote(cmd.Context(), f.server, p, f.force)
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

// applyResult is what an apply reports (also the JSON answer of POST
// /apply).
type applyResult struct {
	Commit      string   `json:"commit"`
	Result      string   `json:"result"`
	Add         int      `json:"add"`
	Change      int      `json:"change"`
	Destroy     int      `json:"destroy"`
	NeedsReboot []string `json:"needs_reboot"`
	Error       string   `json:"error,omitempty"`
	Stale       bool     `json:"stale,omitempty"`
}

func resultOf(ev reconcile.Evaluation, err error) *applyResult {
	r := &applyResult{Result: ev.Result, NeedsReboot: []string{}}
	if ev.Commit != nil {
		r.Commit = ev.Commit.Hash
	}
	if ev.Plan != nil {
		r.Add, r.Change, r.Destroy = ev.Plan.Summary.Add, ev.Plan.Summary.Change, ev.Plan.Summary.Destroy
		r.NeedsReboot = ev.Plan.NeedsReboot
	}
	if err != nil {
		r.Error = err.Error()
		var se *reconcile.StaleError
		r.Stale = errors.As(err, &se)
	}
	return r
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
func applyLocal(cmd *cobra.Command, f planFlags, p *reconcile.Plan) (*applyResult, error) {
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.state, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	unlock, err := lockState(f.state)
	if err != nil {
		return nil, err
	}
	defer unlock()
	src, err := gitsrc.Open(f.repo)
	if err != nil {
		return nil, err
	}
	log, _ := newLogger(cmd.ErrOrStderr(), "text")
	builder, err := artifact.New(artifact.Config{StateDir: f.state, Logger: log})
	if err != nil {
		return nil, err
	}
	roots, err := f.roots.roots()
	if err != nil {
		return nil, err
	}
	block := f.block
	if block == "" && p.Desired != nil {
		block = p.Desired.Server.Name
	}
	rec := reconcile.New(reconcile.Config{Source: src, Ref: f.ref, Server: block, Vars: opts.Vars, Builder: builder, StateDir: f.state, Logger: log, Roots: roots})
	if _, err := rec.Restore(); err != nil {
		return nil, err
	}
	if !f.force {
		if err := rec.CheckOnBranch(p.Commit); err != nil {
			return nil, err
		}
	}
	ev, err := rec.ApplyPlan(cmd.Context(), p)
	if err != nil {
		var ce *reconcile.ConfigError
		if errors.As(err, &ce) {
			writeDiagnostics(cmd.ErrOrStderr(), ce.Files, ce.Diags)
			return nil, exitError{1}
		}
		return nil, err
	}
	return resultOf(ev, nil), nil
}

// applyRemote asks a running server to apply p (POST /apply; with force,
// also off the server's tracked branch).
func applyRemote(ctx context.Context, server string, p *reconcile.Plan, force bool) (*applyResult, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(server, "/")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	url := base + "/apply"
	if force {
		url += "?force=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", server, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s to apply: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("asking %s to apply: %w", base, err)
	}
	var r applyResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("asking %s to apply: %s: %s", base, resp.Status, strings.TrimSpace(string(data)))
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s refused the plan: %s", base, r.Error)
	}
	return &r, nil
}
