package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/reconcile"
)

// A saved plan of a commit that is not on the tracked branch (a feature
// branch nobody merged) is refused without --force: the next push to the
// branch would undo it. With --force it is applied.
func TestApplyPlanOffBranch(t *testing.T) {
	e := newCLIEnv(t)
	e.git("checkout", "-q", "-b", "feature")
	feature := e.commit(map[string]string{"overlays/generic/etc/motd": "feature\n"}, "feature")
	e.git("checkout", "-q", "main")
	plan := filepath.Join(t.TempDir(), "feature.plan")
	if code, _, errs := e.run("plan", "--ref", "feature", "--out", plan); code != 0 {
		t.Fatalf("plan --ref feature: exit %d\n%s", code, errs)
	}
	code, out, errs := applyWithInput(e, "", plan)
	if code != 1 || !strings.Contains(errs, "is not on main, the tracked branch") || !strings.Contains(errs, "--force") {
		t.Errorf("apply PLAN off the branch: exit %d, want 1 and a refusal\n%s%s", code, out, errs)
	}
	if inv, _, err := reconcile.ReadInventory(e.state); err != nil || inv != nil {
		t.Fatalf("a refused plan was recorded: %+v %v", inv, err)
	}
	code, out, errs = applyWithInput(e, "", plan, "--force")
	if code != 0 || !strings.Contains(out, "Apply complete") {
		t.Fatalf("apply --force: exit %d\n%s%s", code, out, errs)
	}
	if inv, _, _ := reconcile.ReadInventory(e.state); inv == nil || inv.Commit != feature {
		t.Errorf("applied with --force: %+v", inv)
	}
	// A plan of main's tip needs no --force.
	e.git("merge", "-q", "feature")
	e.commit(map[string]string{"overlays/generic/etc/motd": "merged\n"}, "after the merge")
	if code, _, errs := e.run("plan", "--out", plan); code != 0 {
		t.Fatalf("plan: %s", errs)
	}
	if code, out, errs := applyWithInput(e, "", plan); code != 0 {
		t.Errorf("apply PLAN of main: exit %d\n%s%s", code, out, errs)
	}
}
