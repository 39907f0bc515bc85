package webui

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// TestRolloutShown: the header shows the rollout (which nodes reboot,
// which are done, which failed and why), on the page and in a live
// update of the header.
func TestRolloutShown(t *testing.T) {
	snap := testSnapshot(3)
	store := status.NewMemory()
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }, MinInterval: time.Millisecond})
	base := serveUI(t, ui, snap, store)
	if page := get(t, base+"/"); strings.Contains(page, `id="rollout"`) {
		t.Fatal("a rollout line before any rollout")
	}
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ui.SetRollout(&Rollout{ID: "r1", Commit: "abcdef0123456789abcd", State: "running", Batch: 2, Batches: 3,
		Rebooting: []string{"n00002"}, Done: []string{"n00001"}, Pending: 1})
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	live := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && sc.Scan(); {
		if l := sc.Text(); strings.Contains(l, "rebooting: n00002") {
			live = true
			break
		}
	}
	if !live {
		t.Error("no live update with the rollout")
	}
	page := get(t, base+"/")
	for _, want := range []string{`id="rollout"`, "abcdef012345", "running", "batch 2/3", "rebooting: n00002", "done: n00001", "waiting: 1"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	ui.SetRollout(&Rollout{ID: "r1", Commit: "abcdef0123456789abcd", State: "halted", Reason: "batch 2 of 3: 1 node(s) failed, 0 allowed",
		Batch: 2, Batches: 3, Done: []string{"n00001"}, Failed: []string{"n00002: power cycle: <refused>"}})
	page = get(t, base+"/")
	for _, want := range []string{`class="rollout bad"`, "halted", "1 node(s) failed", "failed: n00002: power cycle: &lt;refused&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("halted page lacks %q", want)
		}
	}
}
