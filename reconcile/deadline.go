package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/hashicorp/hcl/v2"
)

// SummaryTooExpensive is the diagnostic of a commit rejected because its
// evaluation and build took longer than Config.ReloadTimeout.
const SummaryTooExpensive = "Commit too expensive"

// reloadContext bounds one evaluation and build by Config.ReloadTimeout.
func (r *Reconciler) reloadContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.ReloadTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.cfg.ReloadTimeout)
}

// desireCtx is desire, returning as soon as ctx is done: SIGTERM or the
// reload deadline never waits for an evaluation to finish. Evaluation does
// stops at its next check of ctx (hclspec.LoadContext: between files and
// every few hundred locals, nodes or for_each elements); whatever it still
// returns then is dropped (it only reads the commit).
func (r *Reconciler) desireCtx(ctx context.Context, commit *gitsrc.Commit, loaded *loadedCommit) (*hclspec.Cluster, *hclspec.Server, *Inventory, error) {
	type result struct {
		cluster *hclspec.Cluster
		srv     *hclspec.Server
		desired *Inventory
		err     error
	}
	done := make(chan result, 1)
	go func() {
		c, s, d, err := r.desire(ctx, commit, loaded)
		done <- result{c, s, d, err}
	}()
	select {
	case res := <-done:
		if ctx.Err() != nil {
			// Stopped part-way: its verdict is not the commit's.
			return nil, nil, nil, fmt.Errorf("evaluating commit %s: %w", commit.Short(), ctx.Err())
		}
		return res.cluster, res.srv, res.desired, res.err
	case <-ctx.Done():
		return nil, nil, nil, fmt.Errorf("evaluating commit %s: %w", commit.Short(), ctx.Err())
	}
}

// overDeadline turns err into a rejection of commit when ctx ended because
// the reload deadline passed (not because the server is stopping): a
// commit that costs more than the deadline would cost it again on every
// retry, so only a new commit fixes it.
func (r *Reconciler) overDeadline(ctx context.Context, commit *gitsrc.Commit, err error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return &ConfigError{Commit: commit.Hash, TooExpensive: true, Diags: hcl.Diagnostics{{
		Severity: hcl.DiagError, Summary: SummaryTooExpensive,
		Detail: fmt.Sprintf("evaluating and building commit %s took longer than the reload timeout (%v): it is not applied and the last good state stays served; "+
			"make the commit cheaper, or raise serve --reload-timeout", commit.Short(), r.cfg.ReloadTimeout),
	}}}
}
