package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTimeline: each stage keeps the time it was first reached in a boot;
// iPXE's own DHCP after TFTP stays in the boot; a PXE DHCP after a boot
// starts a new one and keeps the old one as the previous boot; booted
// nodes' own DHCP (Alive) and errors leave the timeline alone; the
// timelines survive a restart of the store.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(st Stage, at int, alive bool) NodeRecord {
		t.Helper()
		s.Record(Event{Node: "n1", Stage: st, Time: sec(at), Alive: alive})
		r, _ := s.Node("n1")
		return r
	}
	rec(StageDHCP, 0, false)
	rec(StageDHCP, 1, false) // DISCOVER then REQUEST
	rec(StageTFTP, 2, false)
	rec(StageDHCP, 4, false) // iPXE's own DHCP
	rec(StageIPXE, 5, false)
	rec(StageKernel, 6, false)
	rec(StageImage, 7, false)
	rec(StageNotFound, 8, false)
	rec(StageSystemOverlay, 9, false)
	rec(StageRuntimeOverlay, 12, false)
	rec(StageDHCP, 20, true)                 // the booted node's own DHCP
	r := rec(StageRuntimeOverlay, 72, false) // the agent's next pull
	want := Timeline{At: [NumBootStages]time.Time{sec(0), sec(2), sec(5), sec(6), sec(7), sec(9), sec(12)}}
	if r.Boot != want || !r.PrevBoot.IsZero() {
		t.Fatalf("first boot: %+v / prev %+v; want %+v", r.Boot, r.PrevBoot, want)
	}
	if got := r.Boot.Total(); got != 12*time.Second || !r.Boot.Complete() {
		t.Fatalf("total %v complete %v; want 12s, true", got, r.Boot.Complete())
	}
	steps := r.Boot.Steps()
	if len(steps) != 7 || steps[1].Gap != 2*time.Second || steps[6].Gap != 3*time.Second || steps[0].Gap != 0 {
		t.Fatalf("steps: %+v", steps)
	}

	// A reboot: iPXE ROM DHCP (no TFTP), script, kernel.
	rec(StageDHCP, 100, false)
	rec(StageIPXE, 101, false)
	r = rec(StageKernel, 103, false)
	if r.PrevBoot != want {
		t.Fatalf("the previous boot is not kept: %+v", r.PrevBoot)
	}
	cur := Timeline{At: [NumBootStages]time.Time{0: sec(100), 2: sec(101), 3: sec(103)}}
	if r.Boot != cur || r.Boot.Complete() || r.Boot.Total() != 3*time.Second {
		t.Fatalf("this boot: %+v", r.Boot)
	}
	if lb, ok := r.LastBoot(); !ok || lb != want {
		t.Fatalf("LastBoot = %+v, %v; want the previous, complete boot", lb, ok)
	}
	// A script fetched again without DHCP (iPXE retried): a new boot.
	r = rec(StageIPXE, 110, false)
	if r.PrevBoot != cur || r.Boot != (Timeline{At: [NumBootStages]time.Time{2: sec(110)}}) {
		t.Fatalf("an earlier stage starts a new boot: %+v / %+v", r.Boot, r.PrevBoot)
	}

	checkTimelinePersists(t, s, dir, r)
}

// checkTimelinePersists checks that node n1's record r (from store s,
// kept in dir) comes back with the same timelines from JSON and, after s
// is closed, from a store opened again on dir.
func checkTimelinePersists(t *testing.T, s *Store, dir string, r NodeRecord) {
	// JSON round trip, and through the state file.
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back NodeRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !sameTimeline(back.Boot, r.Boot) || !sameTimeline(back.PrevBoot, r.PrevBoot) {
		t.Fatalf("JSON round trip: %s", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	r2, _ := s2.Node("n1")
	if !sameTimeline(r2.Boot, r.Boot) || !sameTimeline(r2.PrevBoot, r.PrevBoot) {
		t.Fatalf("after a restart: %+v / %+v", r2.Boot, r2.PrevBoot)
	}
}

func sameTimeline(a, b Timeline) bool {
	for i := range a.At {
		if !a.At[i].Equal(b.At[i]) {
			return false
		}
	}
	return true
}

// TestTimelineJSON: the wire form has the stages reached with their gaps,
// the total in seconds; reading skips a stage it does not know.
func TestTimelineJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	tl := Timeline{At: [NumBootStages]time.Time{0: t0, 2: t0.Add(1500 * time.Millisecond)}}
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"start":"2026-11-30T01:00:00Z","total_seconds":1.5,"complete":false,"stages":[{"stage":"DHCP","at":"2026-11-30T01:00:00Z","gap_seconds":0},{"stage":"IPXE","at":"2026-11-30T01:00:01.5Z","gap_seconds":1.5}]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Timeline
	in := `{"stages":[{"stage":"BOGUS","at":"2026-11-30T01:00:00Z"},{"stage":"IPXE","at":"2026-11-30T01:00:01.5Z"}]}`
	if err := json.Unmarshal([]byte(in), &back); err != nil || back != (Timeline{At: [NumBootStages]time.Time{2: tl.At[2]}}) {
		t.Fatalf("an unknown stage is skipped, the rest kept: %+v %v", back, err)
	}
}

// TestWatchChanges: the watcher is woken once for many events and takes
// each changed node once.
func TestWatchChanges(t *testing.T) {
	s := NewMemory()
	wake := s.Watch()
	for i := 0; i < 1000; i++ {
		s.Record(Event{Node: "a", Stage: StageDHCP})
		s.Record(Event{Node: "b", Stage: StageIPXE})
	}
	s.Record(Event{MAC: "52:54:00:00:00:99", Stage: StageDHCP})
	select {
	case <-wake:
	default:
		t.Fatal("not woken")
	}
	select {
	case <-wake:
		t.Fatal("woken twice for one batch")
	default:
	}
	c := s.TakeChanges()
	if len(c.Nodes) != 2 || !c.Unknown || c.Errors {
		t.Fatalf("changes: %+v", c)
	}
	if c := s.TakeChanges(); len(c.Nodes) != 0 || c.Unknown {
		t.Fatalf("changes not forgotten: %+v", c)
	}
}

func TestWriteTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	r := NodeRecord{Name: "n1", Boot: Timeline{At: [NumBootStages]time.Time{0: t0, 2: t0.Add(1500 * time.Millisecond), 3: t0.Add(4 * time.Second)}}}
	var b strings.Builder
	if err := WriteTimeline(&b, &r); err != nil {
		t.Fatal(err)
	}
	const want = `n1, this boot: started 2026-11-30T01:00:00Z, in progress, total 4.0s
  STAGE                        AT        GAP
  DHCP                      +0.0s         --
  TFTP                         --         --
  IPXE                      +1.5s      +1.5s
  KERNEL                    +4.0s      +2.5s
  IMAGE                        --         --
  SYSTEM_OVERLAY               --         --
  RUNTIME_OVERLAY              --         --

n1, previous boot: none recorded
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
