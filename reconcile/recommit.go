package reconcile

// recommit makes commit, whose desired state is the one served, the commit
// of the served snapshot too, so GET /status, the git notes (node records
// go on the snapshot's commit) and GET /inventory name the same applied
// commit. Nothing is rebuilt: the snapshot is the same but for its name. A
// failed publish keeps the old name (the boot services serve the same
// artifacts either way).
func (r *Reconciler) recommit(commit string) {
	if r.snap == nil || r.snap.Commit == commit {
		return
	}
	snap := r.snap.WithCommit(commit)
	if r.cfg.Publish != nil {
		if err := r.cfg.Publish(snap); err != nil {
			r.cfg.Logger.Warn("naming the served snapshot after the new commit failed", "commit", Short(commit), "err", err)
			return
		}
	}
	r.snap = snap
}
