package reconcile

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestBMCChangeNeedsNoReboot: a node's bmc block is part of its desired
// state: adding it or changing its address is a plan change (bmc.address
// shown) that needs no reboot; the snapshot shows driver and address.
func TestBMCChangeNeedsNoReboot(t *testing.T) {
	e := newPlanEnv(t)
	bmc := func(addr string) map[string]string {
		return edit(t, baseFiles(), "main.hcl", "ip       = \"10.99.0.12\"\n",
			"ip       = \"10.99.0.12\"\n  bmc {\n    driver      = \"ipmi\"\n    address     = \""+addr+"\"\n    credentials = \"rack1\"\n  }\n")
	}
	running := e.running(bmc("10.98.8.21"))
	desired := e.next(bmc("10.98.8.22"), "bmc address")
	if b := desired.Nodes["c002"].BMC; b == nil || b.Address != "10.98.8.22" || b.Port != 623 {
		t.Fatalf("inventory bmc of c002: %+v", b)
	}
	p := diff(t, running, desired)
	if len(p.ResourceChanges) != 1 || p.ResourceChanges[0].Address != "node.c002" {
		t.Fatalf("plan changes: %+v", p.ResourceChanges)
	}
	rc := p.ResourceChanges[0]
	if !slices.Equal(rc.Actions, []string{ActUpdate}) || rc.NeedsReboot || len(p.NeedsReboot) != 0 {
		t.Errorf("actions %v needs_reboot %v (plan %v), want update without reboot", rc.Actions, rc.NeedsReboot, p.NeedsReboot)
	}
	if len(rc.Attributes) != 1 || rc.Attributes[0].Name != "bmc.address" || rc.Attributes[0].Old != `"10.98.8.21"` || rc.Attributes[0].New != `"10.98.8.22"` {
		t.Errorf("attributes %+v, want bmc.address 10.98.8.21 -> 10.98.8.22", rc.Attributes)
	}
	var text bytes.Buffer
	if err := p.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "bmc.address") {
		t.Errorf("plan text does not show bmc.address:\n%s", text.String())
	}
	if p := diff(t, e.running(baseFiles()), desired); len(p.ResourceChanges) != 1 || len(p.NeedsReboot) != 0 {
		t.Errorf("adding a bmc block: changes %+v, needs reboot %v", p.ResourceChanges, p.NeedsReboot)
	}
	snap, err := desired.Snapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := snap.NodeByName("c002"); n.BMC != "ipmi 10.98.8.22:623" {
		t.Errorf("snapshot BMC %q, want ipmi 10.98.8.22:623", n.BMC)
	}
	if n, _ := snap.NodeByName("c001"); n.BMC != "" {
		t.Errorf("c001 has no bmc block; snapshot says %q", n.BMC)
	}
}
