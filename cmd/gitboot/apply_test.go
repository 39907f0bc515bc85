package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/reconcile"
)

// applyWithInput runs gitboot apply with stdin (a reader, never a
// terminal).
func applyWithInput(e *cliEnv, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(append(append([]string{"apply"}, args...), "--repo", e.repo, "--state", e.state, "--var", "image="+e.image,
		"--image-root", filepath.Dir(e.image)))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	code := 0
	if err := root.Execute(); err != nil {
		code = 1
		if ee, ok := err.(exitError); ok {
			code = ee.Code
		} else {
			errb.WriteString("Error: " + err.Error() + "\n")
		}
	}
	return code, out.String(), errb.String()
}

// Without a terminal, apply does not ask: it refuses unless
// --auto-approve, says how to proceed, and applies nothing.
func TestApplyWithoutTerminalNeedsAutoApprove(t *testing.T) {
	e := newCLIEnv(t)
	code, out, errs := applyWithInput(e, "yes\n")
	if code != 1 || !strings.Contains(errs, "not a terminal") || !strings.Contains(errs, "--auto-approve") {
		t.Errorf("apply without a terminal: exit %d, want 1 and a hint at --auto-approve\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "+ node.c001") {
		t.Errorf("the plan was not shown before refusing:\n%s", out)
	}
	if inv, _, err := reconcile.ReadInventory(e.state); err != nil || inv != nil {
		t.Errorf("refused apply recorded an inventory: %v %v", inv, err)
	}

	code, out, errs = applyWithInput(e, "", "--auto-approve")
	if code != 0 || !strings.Contains(out, "Apply complete: commit") {
		t.Fatalf("apply --auto-approve: exit %d\n%s%s", code, out, errs)
	}
	inv, _, err := reconcile.ReadInventory(e.state)
	if err != nil || inv == nil || inv.Nodes["c001"].Artifacts == nil {
		t.Fatalf("inventory after apply: %+v %v", inv, err)
	}
	// Nothing left to do: apply says so and changes nothing.
	code, out, errs = applyWithInput(e, "")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("apply with nothing to do: exit %d\n%s%s", code, out, errs)
	}
}

// A saved plan and --ref are exclusive.
func TestApplyPlanFileAndRef(t *testing.T) {
	e := newCLIEnv(t)
	code, _, errs := applyWithInput(e, "", "plan.json", "--ref", "main")
	if code != 1 || !strings.Contains(errs, "not both") {
		t.Errorf("apply FILE --ref: exit %d\n%s", code, errs)
	}
}
