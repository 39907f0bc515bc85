package reconcile

import (
	"slices"
	"strings"
	"testing"
)

// A new gitboot-agent (a server upgrade, no commit) is a change of the
// gitboot-init overlay and of every node's system overlay: all running
// nodes need a reboot. An agent not known where the plan is made (CI)
// changes nothing.
func TestDiffAgentChange(t *testing.T) {
	state := func(agent string) *Inventory {
		return &Inventory{
			Version: InventoryVersion, Commit: strings.Repeat("a", 40), Agent: agent,
			Server:   ServerState{Name: "head", Address: "10.0.0.1", RuntimeInterval: "1m0s"},
			Overlays: map[string]map[string]string{initOverlayName: {"init": "1111"}},
			Nodes: map[string]NodeState{
				"c1": {MAC: "02:00:00:00:00:01", Image: "img", SystemInput: "s", RuntimeInput: "r"},
				"c2": {MAC: "02:00:00:00:00:02", Image: "img", SystemInput: "s", RuntimeInput: "r"},
			},
		}
	}
	old, now := strings.Repeat("1", 64), strings.Repeat("2", 64)
	p := Diff(state(old), state(now), "")
	var addrs []string
	for _, rc := range p.ResourceChanges {
		addrs = append(addrs, rc.Address)
	}
	if !slices.Equal(addrs, []string{"overlay.gitboot-init", "node.c1", "node.c2"}) || !slices.Equal(p.NeedsReboot, []string{"c1", "c2"}) {
		t.Fatalf("a new agent: changes %v, needs reboot %v", addrs, p.NeedsReboot)
	}
	var b strings.Builder
	p.WriteText(&b, false)
	if !strings.Contains(b.String(), "file usr/lib/gitboot/gitboot-agent") || !strings.Contains(b.String(), "0 to add, 3 to change") {
		t.Errorf("plan text:\n%s", b.String())
	}
	for _, unknown := range [][2]string{{old, ""}, {"", now}, {old, old}} {
		if p := Diff(state(unknown[0]), state(unknown[1]), ""); p.HasChanges() {
			t.Errorf("agent %q -> %q: %d changes, want none", unknown[0], unknown[1], len(p.ResourceChanges))
		}
	}
}
