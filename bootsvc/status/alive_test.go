package status

import (
	"testing"
	"time"
)

// TestAliveKeepsStage: a booted node's own DHCP (Event.Alive) refreshes
// LastSeen and nothing else; a PXE boot's DHCP starts over at DHCP.
func TestAliveKeepsStage(t *testing.T) {
	c := &clock{t: t0}
	s, err := Open(Config{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ip := addr("10.99.0.11")
	const mac = "52:54:00:00:00:01"

	// A node with no record yet: its first DHCP is recorded as such.
	s.Record(Event{Node: "c001", MAC: mac, Stage: StageDHCP, Addr: ip, Alive: true, Time: t0})
	if r, _ := s.Node("c001"); r.Stage != StageDHCP || !r.LastSeen.Equal(t0) {
		t.Fatalf("first DHCP (alive): %+v", r)
	}

	s.Record(Event{Node: "c001", MAC: mac, Stage: StageRuntimeOverlay, Sent: "runtime.img.gz", Addr: ip, Time: t0.Add(time.Second)})
	s.Record(Event{Node: "c001", MAC: mac, Stage: StageDHCP, Addr: ip, Alive: true, Time: t0.Add(30 * time.Second)})
	r, _ := s.Node("c001")
	if r.Stage != StageRuntimeOverlay || r.Sent != "runtime.img.gz" || !r.LastSeen.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("after a renewal: %+v", r)
	}
	if got := s.StageCounts(); got[StageRuntimeOverlay] != 1 || len(got) != 1 {
		t.Fatalf("counts after a renewal: %v", got)
	}
	// An older event does not move LastSeen back.
	s.Record(Event{Node: "c001", Stage: StageDHCP, Addr: ip, Alive: true, Time: t0.Add(10 * time.Second)})
	if r, _ := s.Node("c001"); !r.LastSeen.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("LastSeen moved back: %+v", r)
	}
	// A pending error stays pending.
	s.Record(Event{Node: "c001", Stage: StageDenied, Sent: "runtime.img.gz", Addr: ip, Time: t0.Add(40 * time.Second)})
	s.Record(Event{Node: "c001", Stage: StageDHCP, Addr: ip, Alive: true, Time: t0.Add(50 * time.Second)})
	if r, _ := s.Node("c001"); r.Error == nil || r.Error.Stage != StageDenied || r.Stage != StageRuntimeOverlay || !r.LastSeen.Equal(t0.Add(50*time.Second)) {
		t.Fatalf("renewal with a pending error: %+v", r)
	}
	// A PXE client's DHCP (not Alive) starts a new boot.
	s.Record(Event{Node: "c001", Stage: StageDHCP, Addr: ip, Time: t0.Add(60 * time.Second)})
	if r, _ := s.Node("c001"); r.Stage != StageDHCP || r.Sent != "" || r.Error != nil {
		t.Fatalf("PXE DHCP: %+v", r)
	}
}
