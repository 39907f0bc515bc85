package serve

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// TestNotesChangedNodesInBatches: with more nodes than changedNodes
// compares at a time, every seen node's record comes out once, in name
// order, whatever order the snapshot declares them in; a node never seen
// has none; once written, only the node that changed again comes back.
func TestNotesChangedNodesInBatches(t *testing.T) {
	store := status.NewMemory()
	n := 2*notesBatch + 11
	var nodes []bootsvc.Node
	var want []string
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for i := n - 1; i >= 0; i-- {
		name := fmt.Sprintf("c%04d", i)
		ip := netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)})
		nodes = append(nodes, bootsvc.Node{Name: name, MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff), IP: ip})
		if i%7 == 3 {
			continue // never seen
		}
		want = append(want, name)
		store.Record(status.Event{Node: name, Stage: status.StageKernel, Sent: "kernel", Addr: ip, Time: t0})
	}
	slices.Sort(want)
	snap := bootsvc.NewSnapshot(bootsvc.Server{Name: "head"}, nil, nodes, "abc123")
	w := &notesWriter{store: store, snapshot: func() *bootsvc.Snapshot { return snap }}
	tracker := notes.NewTracker("head")
	table, commit := w.changedNodes(tracker, t0)
	var got []string
	for _, r := range table {
		got = append(got, r.Get("name"))
	}
	if commit != "abc123" || !slices.Equal(got, want) {
		t.Fatalf("changed nodes: %d (commit %q), want the %d seen, in name order", len(got), commit, len(want))
	}
	tracker.Written(table)
	store.Record(status.Event{Node: want[len(want)-1], Stage: status.StageImage, Sent: "image", Time: t0.Add(time.Second)})
	if table, _ := w.changedNodes(tracker, t0); len(table) != 1 || table[0].Get("name") != want[len(want)-1] {
		t.Fatalf("after writing: %d records changed, want only %s", len(table), want[len(want)-1])
	}
}
