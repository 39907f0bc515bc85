package webui

import (
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// TestInitFailedShown: a node whose /init reported INIT_FAILED has a red
// INIT_FAILED row with the reason (clipped in the cell, whole in its
// title), counts in the stage bar, and its timeline says init failed and
// why.
func TestInitFailedShown(t *testing.T) {
	snap := testSnapshot(3)
	store := status.NewMemory()
	t0 := time.Now().Add(-time.Minute)
	store.Record(status.Event{Node: "n00002", Stage: status.StageDHCP, Time: t0})
	store.Record(status.Event{Node: "n00002", Stage: status.StageSystemOverlay, Sent: "system.img", Time: t0.Add(4 * time.Second)})
	why := "no init to exec: tried gitboot.init=/nonexistent /sbin/init /etc/init /bin/init <b>"
	store.Record(status.Event{Node: "n00002", Stage: status.StageInitFailed, Sent: "init", Reason: why, Time: t0.Add(6 * time.Second)})
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	base := serveUI(t, ui, snap, store)

	page := get(t, base+"/")
	row := page[strings.Index(page, `<tr id="n-n00002"`):]
	row = row[:strings.Index(row, "</tr>")]
	esc := strings.ReplaceAll(strings.ReplaceAll(why, "<", "&lt;"), ">", "&gt;")
	for _, want := range []string{`<span class="st s-err">INIT_FAILED</span>`, `title="` + esc + `"`, ">no init to exec: tried gitboot.init=/nonexistent /sbin/init…</td>"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q:\n%s", want, row)
		}
	}
	if !strings.Contains(page, `title="INIT_FAILED: 1"`) {
		t.Error("the stage bar does not count INIT_FAILED")
	}
	tl := get(t, base+"/?node=n00002&part=timeline")
	for _, want := range []string{"init failed: " + esc, "<td>INIT_FAILED</td>", "&#43;6.0 s", "&#43;2.0 s"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
}
