package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// RebuildApplied builds the last applied commit again, for when Restore
// fails because the build it recorded is incomplete (an artifact was
// found damaged at start and removed): the site keeps being served the
// commit it was served, not the branch tip, which may be invalid. It
// returns (nil, nil) when nothing was applied yet.
func (r *Reconciler) RebuildApplied(ctx context.Context) (*bootsvc.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, _, err := ReadInventory(r.cfg.StateDir)
	if err != nil || inv == nil {
		return nil, err
	}
	if err := r.verifyApplied(inv.Commit); err != nil {
		return nil, err
	}
	commit, err := r.cfg.Source.Resolve(inv.Commit)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the applied commit %s: %w", Short(inv.Commit), err)
	}
	return r.run(ctx, pass{ev: &Evaluation{Commit: commit}, rebuild: inv})
}

// incomplete reports whether the running build misses an artifact.
func (r *Reconciler) incomplete() bool {
	if r.running == nil || r.cfg.Builder == nil {
		return false
	}
	if _, err := r.cfg.Builder.Load(r.running.Manifest); err != nil {
		r.cfg.Logger.Warn("the served build is incomplete; building it again", "err", err)
		return true
	}
	return false
}

// logRejected logs a rejected commit and what is served instead. The
// commit served is never called rejected: when the rejected commit is the
// one served (a signature policy stricter than when it was applied), the
// log says that it stays served only until a valid commit replaces it.
func (r *Reconciler) logRejected(commit *gitsrc.Commit, err error) {
	switch {
	case r.running == nil || r.snap == nil:
		r.cfg.Logger.Error("commit rejected; nothing is served yet", "commit", commit.Short(), "subject", commit.Subject, "err", err)
	case r.running.Commit == commit.Hash:
		r.cfg.Logger.Error("the served commit no longer passes its checks; it stays served until a valid commit is applied",
			"commit", commit.Short(), "subject", commit.Subject, "err", err)
	default:
		r.cfg.Logger.Error("commit rejected; the last good state stays served", "commit", commit.Short(), "subject", commit.Subject,
			"served", Short(r.running.Commit), "err", err)
	}
}

// WaitApplied runs a pass every interval until one applies a commit (or
// finds its desired state served already), for a server that has nothing
// it may serve: the applied state and the branch tip both failed the
// signature policy. Trigger starts a pass at once (a push noticed). It
// returns the applying evaluation, or ctx's error.
func (r *Reconciler) WaitApplied(ctx context.Context, interval time.Duration) (Evaluation, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return Evaluation{}, ctx.Err()
		case <-t.C:
		case <-r.trigger:
		}
		ev, err := r.ReconcileOnce(ctx, Options{})
		if err == nil && r.Snapshot() != nil && (ev.Result == ResultApplied || ev.Result == ResultUnchanged) {
			return ev, nil
		}
	}
}
