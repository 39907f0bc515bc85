package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// PlanConfig is what `gitboot plan` and `gitboot apply` plan: Ref of
// Repo against the running inventory of Server (GET /inventory) or, when
// Server is "", of the state directory State.
type PlanConfig struct {
	Repo, Ref, State, Server string
	Block                    string   // server block ("": the running one, or the only one)
	Vars                     []string // --var name=value
	BMCCredentials           string   // a credentials file to check the nodes' names against
	Require                  bool     // --require-signed
	KeysFile                 string   // --trusted-keys
	// Roots are the allowed server directories (and applies the registry
	// configuration): checked here without Server, by Server's
	// /check-path with it.
	Roots func() (hclspec.Roots, error)
	Force bool // apply: a plan of a commit off Ref
	// AgeIdentities decrypt the repository's secrets to check them ("":
	// the state directory's, if there is one).
	AgeIdentities []string
}

// Policy is the signature policy plan and apply enforce: the one bound
// to State (recorded there when record is set), or with Server the
// flags' (the server enforces its own on POST /apply).
func (c PlanConfig) Policy(command string, record bool) (*gitsrc.Policy, error) {
	if c.Server != "" {
		return gitsrc.FlagPolicy(c.Require, c.KeysFile)
	}
	keys, _, err := reconcile.EnforcedPolicy(c.State, reconcile.PolicyFlags{Require: c.Require, KeysFile: c.KeysFile, Command: command}, record)
	return keys, err
}

// MakePlan plans c.Ref of c.Repo against the running inventory; an
// invalid commit prints its diagnostics on stderr (exit status 1).
func MakePlan(ctx context.Context, stderr io.Writer, c PlanConfig) (*reconcile.Plan, error) {
	opts, err := hclspec.OptionsFor(".", c.Vars)
	if err != nil {
		return nil, err
	}
	policy, err := c.Policy("gitboot plan", false)
	if err != nil {
		return nil, err
	}
	src, err := gitsrc.Open(c.Repo)
	if err != nil {
		return nil, err
	}
	ref := c.Ref
	if policy != nil {
		// Check the commit the ref names now, then plan that very commit.
		if ref, err = src.CheckSigned(stderr, policy, c.Ref, "plan "+c.Ref+" of "+c.Repo); err != nil {
			return nil, err
		}
	}
	head, running, err := c.runningInventory(ctx)
	if err != nil {
		return nil, err
	}
	given := opts.Vars
	var roots hclspec.PathChecker = Roots{Ctx: ctx, Base: strings.TrimRight(c.Server, "/")}
	local, err := c.Roots() // plan resolves registry tags here
	if err != nil {
		return nil, err
	}
	state := "" // a remote server's images are checked by its build
	if c.Server == "" {
		roots, state = local, c.State
	}
	// The variables the server applied with, unless given here (CI has
	// not the server's --var values).
	vars := reconcile.WithRunningVars(given, head)
	p, err := reconcile.PlanCommitRunning(state, c.AgeIdentities, src, ref, vars, c.Block, roots, head, running)
	if errors.Is(err, reconcile.ErrRunningChanged) {
		// Applied meanwhile: plan against what runs now, read first.
		inv, data, rerr := c.RunningInventory(ctx)
		if rerr != nil {
			return nil, rerr
		}
		p, err = reconcile.PlanCommitSecrets(state, c.AgeIdentities, src, ref, reconcile.WithRunningVars(given, inv), c.Block, roots, inv, data)
	}
	if err != nil {
		return nil, reconcile.ReportConfigError(stderr, err, c.Repo, ": it would be rejected.")
	}
	if err := checkPlanCredentials(stderr, c, p.Desired); err != nil {
		return nil, err
	}
	return p, nil
}

// RunningInventory reads the running inventory from c.Server (GET
// /inventory) or from c.State; nil when nothing was applied yet.
func (c PlanConfig) RunningInventory(ctx context.Context) (*reconcile.Inventory, []byte, error) {
	if c.Server == "" {
		return reconcile.ReadInventory(c.State)
	}
	return Inventory(ctx, c.Server)
}

// runningInventory returns the running inventory's head (what a plan
// needs before it evaluates the commit) and a func that returns the whole
// inventory: from c.State, the whole one is read beside the evaluation
// (see reconcile.PlanCommitRunning); from c.Server, it is fetched first.
func (c PlanConfig) runningInventory(ctx context.Context) (*reconcile.Inventory, func() (*reconcile.RunningRead, error), error) {
	if c.Server != "" {
		inv, data, err := Inventory(ctx, c.Server)
		if err != nil {
			return nil, nil, err
		}
		var rr *reconcile.RunningRead
		if inv != nil {
			rr = &reconcile.RunningRead{Inv: inv}
			if len(data) > 0 {
				rr.Digest = reconcile.Digest(data)
			}
		}
		return inv, func() (*reconcile.RunningRead, error) { return rr, nil }, nil
	}
	head, err := reconcile.ReadInventoryHead(c.State)
	if err != nil {
		return nil, nil, err
	}
	type read struct {
		rr  *reconcile.RunningRead
		err error
	}
	done := make(chan read, 1)
	go func() {
		rr, err := reconcile.ReadRunning(c.State)
		done <- read{rr, err}
	}()
	return head, func() (*reconcile.RunningRead, error) {
		r := <-done
		return r.rr, r.err
	}, nil
}

// PlanOutput is what `gitboot plan` does with a plan.
type PlanOutput struct {
	Out      string // save it to this file for gitboot apply FILE
	JSON     bool   // print it as JSON
	Detailed bool   // exit status 2 when it has changes
}

// Write saves and prints p as o says.
func (o PlanOutput) Write(w io.Writer, p *reconcile.Plan) error {
	if o.Out != "" {
		if err := SavePlan(o.Out, p); err != nil {
			return err
		}
	}
	if o.JSON {
		cp := *p // without the desired state a saved plan carries
		cp.Desired = nil
		if err := clio.WriteJSON(w, &cp); err != nil {
			return err
		}
	} else {
		if err := p.WriteText(w, clio.IsTerminal(w)); err != nil {
			return err
		}
		if o.Out != "" {
			fmt.Fprintf(w, "\nSaved the plan to %s. Apply exactly this plan with:\n    gitboot apply %s\n", o.Out, o.Out)
		}
	}
	if o.Detailed && p.HasChanges() {
		return clio.Exit{Code: 2}
	}
	return nil
}

// SavePlan writes p to path for gitboot apply.
func SavePlan(path string, p *reconcile.Plan) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return nil
}

// ReadPlan reads a saved plan (gitboot plan --out) from path.
func ReadPlan(path string) (*reconcile.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the plan: %w", err)
	}
	return reconcile.DecodePlan(data, path)
}
