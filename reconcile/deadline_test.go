package reconcile

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReloadTimeout: a commit whose evaluation and build do not finish
// within Config.ReloadTimeout is rejected as too expensive (once: the
// next pass does not try it again), and the applied state stays served
// and recorded.
func TestReloadTimeout(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(baseFiles(), "first")
	e.mustApply(c1)
	e.rec.cfg.ReloadTimeout = time.Nanosecond
	c2 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "changed\n"), "motd")
	ev, err := e.once(Options{})
	var ce *ConfigError
	if !errors.As(err, &ce) || !ce.TooExpensive || ev.Result != ResultRejected || ce.Commit != c2 {
		t.Fatalf("pass over the deadline: result %q, err %v; want %s rejected as too expensive", ev.Result, err, c2)
	}
	if len(ce.Diags) != 1 || ce.Diags[0].Summary != SummaryTooExpensive {
		t.Errorf("diagnostics %v", ce.Diags)
	}
	if _, inv := e.inventory(); inv.Commit != c1 || len(e.published) != 1 {
		t.Errorf("after a rejected commit: recorded %s, %d published; want %s, 1", inv.Commit, len(e.published), c1)
	}
	e.rec.cfg.ReloadTimeout = time.Minute
	if ev, err := e.once(Options{Recheck: true}); ev.Result != ResultRejected || err == nil {
		t.Errorf("the rejected commit was evaluated again: %q %v", ev.Result, err)
	}
	c3 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "changed again\n"), "motd 2")
	e.mustApply(c3)
}

// TestReconcileCancelled: a pass whose context is cancelled (SIGTERM)
// returns the cancellation, rejects nothing, and the commit is evaluated
// by the next pass.
func TestReconcileCancelled(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(baseFiles(), "first")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev, err := e.rec.ReconcileOnce(ctx, Options{})
	if !errors.Is(err, context.Canceled) || ev.Result != ResultError || IsConfigError(err) {
		t.Fatalf("cancelled pass: %q %v", ev.Result, err)
	}
	e.mustApply(c1)
}
