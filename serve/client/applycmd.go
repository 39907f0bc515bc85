package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/serve"
)

// ApplyRun is `gitboot apply`: a saved plan (PlanFile), or a plan of
// c.Ref made now, shown and applied after a yes on In (or AutoApprove).
type ApplyRun struct {
	PlanConfig
	PlanFile    string // a saved plan ("": plan now)
	AutoApprove bool
	In          io.Reader // where the yes is asked
	Out, Err    io.Writer
}

// Run applies the plan: through c.Server (POST /apply) or to c.State.
func (a ApplyRun) Run(ctx context.Context) error {
	// --require-signed is recorded in --state before anything else.
	if _, err := a.Policy("gitboot apply", true); err != nil {
		return err
	}
	p, err := a.plan(ctx)
	if p == nil || err != nil {
		return err
	}
	var ev *serve.ApplyResult
	if a.Server != "" {
		ev, err = Apply(ctx, a.Server, p, a.Force)
	} else {
		ev, err = a.applyLocal(ctx, p)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "\nApply complete: commit %s %s. %d added, %d changed, %d destroyed.\n",
		reconcile.Short(ev.Commit), ev.Result, ev.Add, ev.Change, ev.Destroy)
	if len(ev.NeedsReboot) > 0 {
		fmt.Fprintf(a.Out, "Reboot to pick the change up: %s\n", strings.Join(ev.NeedsReboot, ", "))
	}
	return nil
}

// plan is the plan to apply: the saved one, its signature checked, or
// one made now and approved; nil when there is nothing to apply.
func (a ApplyRun) plan(ctx context.Context) (*reconcile.Plan, error) {
	if a.PlanFile != "" {
		p, err := ReadPlan(a.PlanFile)
		if err != nil {
			return nil, err
		}
		return p, a.verifySaved(p)
	}
	p, err := MakePlan(ctx, a.Err, a.PlanConfig)
	if err != nil {
		return nil, err
	}
	if err := p.WriteText(a.Out, clio.IsTerminal(a.Out)); err != nil {
		return nil, err
	}
	if !p.HasChanges() {
		return nil, nil
	}
	if !a.AutoApprove {
		ok, err := clio.ConfirmApply(a.In, a.Out)
		if err != nil {
			return nil, err
		}
		if !ok {
			fmt.Fprintln(a.Out, "\nApply cancelled.")
			return nil, clio.Exit{Code: 1}
		}
	}
	return p, nil
}

// verifySaved checks, with --require-signed or the policy bound to
// State, the signature of the commit a saved plan was made from, in
// Repo: a plan is applied by commit hash, so the signature checked is
// the one applied.
func (a ApplyRun) verifySaved(p *reconcile.Plan) error {
	policy, err := a.Policy("gitboot apply", true)
	if policy == nil || err != nil {
		return err
	}
	src, err := gitsrc.Open(a.Repo)
	if err != nil {
		return err
	}
	_, err = src.CheckSigned(a.Err, policy, p.Commit, "apply the plan of commit "+reconcile.Short(p.Commit))
	return err
}

// applyLocal applies p to the state directory itself (no server runs on
// it: the lock says so).
func (a ApplyRun) applyLocal(ctx context.Context, p *reconcile.Plan) (*serve.ApplyResult, error) {
	opts, err := hclspec.OptionsFor(".", a.Vars)
	if err != nil {
		return nil, err
	}
	roots, err := a.Roots()
	if err != nil {
		return nil, err
	}
	policy, err := a.Policy("gitboot apply", true)
	if err != nil {
		return nil, err
	}
	ev, err := serve.ApplyLocal(ctx, serve.LocalConfig{Repo: a.Repo, Ref: a.Ref, State: a.State, Server: a.Block,
		Vars: opts.Vars, Roots: roots, Logger: slog.New(slog.NewTextHandler(a.Err, nil)), Policy: policy, Force: a.Force, AgeIdentities: a.AgeIdentities}, p)
	if err != nil {
		return nil, reconcile.ReportConfigError(a.Err, err, a.Repo, "")
	}
	return serve.ResultOf(ev, nil), nil
}
