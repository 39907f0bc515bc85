package reconcile

import (
	"context"
	"time"
)

// Trigger asks Run for a pass soon (a push was noticed, POST /reconcile,
// SIGHUP). It never blocks; triggers that arrive during a pass coalesce
// into one more pass. recheck also re-examines image sources.
func (r *Reconciler) Trigger(recheck bool) {
	if recheck {
		r.recheck.Store(true)
	}
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Run drives ReconcileOnce until ctx is done: a pass at start, one per
// Trigger, one every poll (a recheck: image sources and remote fetches;
// 0 disables polling). A transient error is retried with backoff (1 s
// doubling up to a minute); an invalid commit waits for a new commit.
func (r *Reconciler) Run(ctx context.Context, poll time.Duration) error {
	var pollC <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		pollC = t.C
	}
	var retry *time.Timer
	var retryC <-chan time.Time
	backoff := time.Second
	recheck := true // at start: the image sources may have changed while stopped
	for {
		recheck = r.recheck.Swap(false) || recheck
		_, err := r.ReconcileOnce(ctx, Options{Recheck: recheck})
		recheck = false
		if retry != nil {
			retry.Stop()
			retryC = nil
		}
		if err != nil && !IsConfigError(err) && ctx.Err() == nil {
			r.cfg.Logger.Warn("reconcile failed; the last good state stays served; retrying", "in", backoff, "err", err)
			retry = time.NewTimer(backoff)
			retryC = retry.C
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.trigger:
		case <-pollC:
			recheck = true
		case <-retryC:
			recheck = true
		}
	}
}
