package serve

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// TestNotesInitFailed: a node whose /init reported INIT_FAILED gets a node
// record with error=INIT_FAILED and the reason, written again when the
// failure comes (the stage itself stays the last good one).
func TestNotesInitFailed(t *testing.T) {
	store := status.NewMemory()
	snap := bootsvc.NewSnapshot(bootsvc.Server{Name: "head"}, nil,
		[]bootsvc.Node{{Name: "c001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.11")}}, "abc123")
	w := &notesWriter{store: store, snapshot: func() *bootsvc.Snapshot { return snap }}
	tracker := notes.NewTracker("head")
	ip := netip.MustParseAddr("10.99.0.11")
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	store.Record(status.Event{Node: "c001", Stage: status.StageSystemOverlay, Sent: "system.img", Addr: ip, Time: t0})
	table, _ := w.changedNodes(tracker, t0)
	if len(table) != 1 || strings.Contains(table[0].String(), "error=") {
		t.Fatalf("before: %v", table)
	}
	tracker.Written(table)
	store.Record(status.Event{Node: "c001", Stage: status.StageInitFailed, Sent: "init", Reason: "no init to exec; tried: /sbin/init (missing)", Addr: ip, Time: t0.Add(time.Second)})
	table, _ = w.changedNodes(tracker, t0)
	if len(table) != 1 {
		t.Fatal("the INIT_FAILED report wrote no node record")
	}
	if got := table[0].String(); !strings.Contains(got, "stage=SYSTEM_OVERLAY") || !strings.Contains(got, `error=INIT_FAILED reason="no init to exec; tried: /sbin/init (missing)"`) {
		t.Errorf("record: %s", got)
	}
}
