package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// TestStatusNodeTimeline: `gitboot status NODE` prints the table and the
// node's boot timeline; --json carries the timelines; a glob matching
// several nodes prints no timeline.
func TestStatusNodeTimeline(t *testing.T) {
	url := statusServer(t)
	code, out, errOut := statusExec("--server", url, "c001")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"c001, this boot: started ", "complete, total 3584.0s", "  KERNEL                    +0.0s         --",
		"  RUNTIME_OVERLAY        +3584.0s   +3584.0s", "c001, previous boot: none recorded"} {
		if !strings.Contains(out, want) {
			t.Errorf("status c001 lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = statusExec("--server", url, "c00*")
	if code != 0 || strings.Contains(out, "this boot") {
		t.Fatalf("two nodes: exit %d, a timeline printed:\n%s", code, out)
	}
	code, out, _ = statusExec("--server", url, "--json", "c001")
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	b := rep.Nodes[0].Boot
	if steps := b.Steps(); !b.Complete() || len(steps) != 2 || steps[0].Stage != status.StageKernel {
		t.Fatalf("--json boot: %+v\n%s", steps, out)
	}
}
