package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/gitboot/gitboot/reconcile/artifact"
)

// oneShot makes a one-shot Reconciler on e's state directory, restored,
// as gitboot apply does (serve.ApplyLocal).
func (e *recEnv) oneShot() *Reconciler {
	e.t.Helper()
	b, err := artifact.New(artifact.Config{StateDir: e.state, CheckOnUse: true})
	if err != nil {
		e.t.Fatal(err)
	}
	r := New(Config{Source: e.repo.source(), Vars: e.vars, Builder: b, StateDir: e.state,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OneShot: true})
	if _, err := r.Restore(); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// A one-shot reconciler keeps only the digest of the running inventory's
// encoding (not the 8 MB at 10,000 nodes): a plan made against the
// running state applies, one made against an earlier state is refused.
func TestOneShotApplyPlanDigest(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	plan := func(c string) *Plan {
		t.Helper()
		data, running := e.inventory()
		p, err := PlanCommit(e.repo.source(), c, e.vars, "", nil, running, data)
		if err != nil || !p.HasChanges() {
			t.Fatalf("PlanCommit: %v %+v", err, p)
		}
		return p
	}
	c2 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "two\n"), "two")
	r := e.oneShot()
	if inv := r.RunningInventory(); inv == nil || r.served.Load() != nil || r.runningHash == "" {
		t.Fatalf("one-shot Restore: inventory %v, encoding published %v, digest %q", inv != nil, r.served.Load() != nil, r.runningHash)
	}
	if ev, err := r.ApplyPlan(context.Background(), plan(c2)); err != nil || ev.Result != ResultApplied {
		t.Fatalf("one-shot ApplyPlan: %q %v", ev.Result, err)
	}
	c3 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "three\n"), "three")
	stale := plan(c3) // against c2's state
	c4 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "four\n"), "four")
	if ev, err := e.oneShot().ApplyPlan(context.Background(), plan(c4)); err != nil || ev.Result != ResultApplied {
		t.Fatalf("one-shot ApplyPlan of c4: %q %v", ev.Result, err)
	}
	ev, err := e.oneShot().ApplyPlan(context.Background(), stale)
	var se *StaleError
	if !errors.As(err, &se) || ev.Result == ResultApplied {
		t.Fatalf("stale plan in a one-shot apply: %q %v; want a *StaleError", ev.Result, err)
	}
	if _, inv := e.inventory(); inv.Commit != c4 {
		t.Errorf("running commit %s after a refused plan; want %s", inv.Commit, c4)
	}
}
