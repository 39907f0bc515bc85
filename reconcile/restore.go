package reconcile

import (
	"context"
	"fmt"

	"github.com/gitboot/gitboot/bootsvc"
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
