package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/gitboot/gitboot/reconcile/artifact"
)

// A plan that read the running inventory from the state directory hands
// it to an apply in the same process (gitboot apply): Restore takes it
// without reading the files again while inventory.json is the file the
// plan read. After an apply in between, Restore reads them again and the
// plan is refused as stale.
func TestOneShotTakesPlansRunningRead(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	plan := func() *Plan {
		t.Helper()
		head, err := ReadInventoryHead(e.state)
		if err != nil {
			t.Fatal(err)
		}
		p, err := PlanCommitRunning(e.state, nil, e.repo.source(), "main", e.vars, "", nil, head,
			func() (*RunningRead, error) { return ReadRunning(e.state) })
		if err != nil || !p.HasChanges() {
			t.Fatalf("PlanCommitRunning: %v %+v", err, p)
		}
		if !p.RunningRead().Current(e.state) {
			t.Fatal("the plan's running read is not current right after the plan")
		}
		return p
	}
	oneShot := func(prior *RunningRead) *Reconciler {
		t.Helper()
		b, err := artifact.New(artifact.Config{StateDir: e.state, CheckOnUse: true})
		if err != nil {
			t.Fatal(err)
		}
		r := New(Config{Source: e.repo.source(), Vars: e.vars, Builder: b, StateDir: e.state,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OneShot: true, Prior: prior})
		if _, err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		return r
	}

	e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "two\n"), "two")
	p2 := plan()
	before := runningReads.Load()
	r := oneShot(p2.RunningRead())
	if n := runningReads.Load() - before; n != 0 {
		t.Fatalf("Restore read the running inventory %d times; the plan's read was current", n)
	}
	if r.runningHash != p2.InventoryDigest {
		t.Fatalf("running digest %q, plan's %q", r.runningHash, p2.InventoryDigest)
	}
	if ev, err := r.ApplyPlan(context.Background(), p2); err != nil || ev.Result != ResultApplied {
		t.Fatalf("ApplyPlan: %q %v", ev.Result, err)
	}
	if p2.RunningRead().Current(e.state) {
		t.Fatal("the plan's read is current after its apply rewrote inventory.json")
	}

	e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "three\n"), "three")
	stale := plan()
	if stale.RunningRead().Current(t.TempDir()) {
		t.Fatal("a read of one state directory is current for another")
	}
	e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "four\n"), "four")
	p4 := plan()
	if ev, err := oneShot(p4.RunningRead()).ApplyPlan(context.Background(), p4); err != nil || ev.Result != ResultApplied {
		t.Fatalf("ApplyPlan of four: %q %v", ev.Result, err)
	}
	before = runningReads.Load()
	r = oneShot(stale.RunningRead())
	if runningReads.Load() == before {
		t.Fatal("Restore took the read of an inventory.json another apply replaced")
	}
	ev, err := r.ApplyPlan(context.Background(), stale)
	var se *StaleError
	if !errors.As(err, &se) || ev.Result == ResultApplied {
		t.Fatalf("stale plan: %q %v; want a *StaleError", ev.Result, err)
	}
}
