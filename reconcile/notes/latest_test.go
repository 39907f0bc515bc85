package notes

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// sliceLine yields commits (newest first) and counts how many were taken.
func sliceLine(commits []string, taken *int) func() (string, error) {
	return func() (string, error) {
		if *taken >= len(commits) {
			return "", nil
		}
		*taken++
		return commits[*taken-1], nil
	}
}

// newestFirst reverses commits (oldest first) into a first-parent line.
func newestFirst(commits []string) []string {
	line := slices.Clone(commits)
	slices.Reverse(line)
	return line
}

func appendNote(t *testing.T, n *Notes, commit string, recs ...Record) {
	t.Helper()
	if err := n.Update(map[string]func([]Record) []Record{commit: AppendUnique(recs...)}, "test"); err != nil {
		t.Fatal(err)
	}
}

func nodeAt(name, stage string, seen time.Time, booted string) Record {
	return Node("head", name, stage, "runtime.img", "10.99.0.1", seen, booted)
}

func names(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Get("name")+"@"+r.Get("stage"))
	}
	return out
}

// Node records written only when they change, each on the commit applied at
// the time: Latest finds every node's newest record, however old its
// commit, takes the applied commit from the tip (a commit that changed
// nothing served has an apply record and no node record) and stops at the
// stop rule (the table record's count), not at the end of the line.
func TestLatestStopRule(t *testing.T) {
	dir, c := newRepo(t, 6)
	n := mustOpen(t, dir)
	applied := func(i int) Record { return Apply("head", t0.Add(time.Duration(i)*time.Hour), ResultApplied, 0, 0, 0) }
	// c[0]: an older record of n4, a node no longer counted: never read.
	appendNote(t, n, c[0], applied(0), nodeAt("n4", "RUNTIME_OVERLAY", t0, c[0]), Table("head", t0, 1))
	// c[1]: three nodes boot.
	appendNote(t, n, c[1], applied(1), Table("head", t0.Add(time.Hour), 0),
		nodeAt("n1", "RUNTIME_OVERLAY", t0.Add(61*time.Minute), c[1]),
		nodeAt("n2", "KERNEL", t0.Add(61*time.Minute), c[1]),
		nodeAt("n2", "RUNTIME_OVERLAY", t0.Add(62*time.Minute), c[1]),
		nodeAt("n3", "SYSTEM_OVERLAY", t0.Add(61*time.Minute), c[1]),
		// n3's last two records were seen in the same second.
		nodeAt("n3", "RUNTIME_OVERLAY", t0.Add(62*time.Minute), c[1]),
		nodeAt("n3", "SYSTEM_OVERLAY", t0.Add(62*time.Minute), c[1]),
		Table("head", t0.Add(62*time.Minute), 3))
	// c[2]: applied, nothing booted.
	appendNote(t, n, c[2], applied(2), Table("head", t0.Add(2*time.Hour), 3))
	// c[3]: n2 reboots; every node needs a reboot, then n2 does not.
	appendNote(t, n, c[3], applied(3), Table("head", t0.Add(3*time.Hour), 3),
		Reboot("head", t0.Add(3*time.Hour), []string{"n1", "n2", "n3"}),
		nodeAt("n2", "RUNTIME_OVERLAY", t0.Add(3*time.Hour+time.Minute), c[3]),
		Reboot("head", t0.Add(3*time.Hour+time.Minute), []string{"n1", "n3"}),
		Table("head", t0.Add(3*time.Hour+time.Minute), 3))
	// c[4]: rejected; c[5] (the tip): a comment, applied, nothing served changed.
	appendNote(t, n, c[4], Apply("head", t0.Add(4*time.Hour), ResultRejected, 0, 0, 0),
		Diagnostic("head", "nodes.hcl", 3, 1, "bad"))
	appendNote(t, n, c[5], applied(5), Table("head", t0.Add(5*time.Hour), 3))

	taken := 0
	h, err := n.Latest(sliceLine(newestFirst(c), &taken))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Servers) != 1 || h.Servers[0].Applied != c[5] {
		t.Fatalf("servers: %+v", h.Servers)
	}
	s := h.Servers[0]
	if got, want := names(s.Nodes), []string{"n1@RUNTIME_OVERLAY", "n2@RUNTIME_OVERLAY", "n3@RUNTIME_OVERLAY"}; !slices.Equal(got, want) {
		t.Errorf("nodes %v, want %v", got, want)
	}
	if s.Nodes[1].Get("booted") != c[3] {
		t.Errorf("n2's newest record is not the one of its reboot: %s", s.Nodes[1])
	}
	if !h.Complete || taken != 5 {
		t.Errorf("complete=%v after %d commits, want the walk to stop at %s (5 commits)", h.Complete, taken, c[1][:7])
	}
	reboot, ok := s.NeedsReboot()
	if !ok || !reboot["n1"] || reboot["n2"] || !reboot["n3"] {
		t.Errorf("needs reboot %v (%v), want n1 and n3", reboot, ok)
	}
	if h.Rejected != "" {
		t.Errorf("rejected %s: it is older than the applied tip", h.Rejected)
	}
}

// Notes written before table records held the server's whole table on every
// applied commit: the first such note is the whole table.
func TestLatestLegacyTable(t *testing.T) {
	dir, c := newRepo(t, 3)
	n := mustOpen(t, dir)
	appendNote(t, n, c[0], Apply("head", t0, ResultApplied, 1, 0, 0), nodeAt("old", "RUNTIME_OVERLAY", t0, c[0]))
	appendNote(t, n, c[1], Apply("head", t0.Add(time.Hour), ResultApplied, 1, 0, 0),
		nodeAt("n1", "RUNTIME_OVERLAY", t0.Add(time.Hour), c[1]))
	appendNote(t, n, c[2], Apply("head", t0.Add(2*time.Hour), ResultRejected, 0, 0, 0))
	taken := 0
	h, err := n.Latest(sliceLine(newestFirst(c), &taken))
	if err != nil {
		t.Fatal(err)
	}
	if h.Rejected != c[2] || len(h.Servers) != 1 || h.Servers[0].Applied != c[1] {
		t.Fatalf("rejected %s, servers %+v", h.Rejected, h.Servers)
	}
	if got := names(h.Servers[0].Nodes); !slices.Equal(got, []string{"n1@RUNTIME_OVERLAY"}) || taken != 2 {
		t.Errorf("nodes %v after %d commits", got, taken)
	}
}

// The tracker writes a node's record when a reader cares: the first time,
// a new boot, the end of a boot (final or failed stage), another booted
// commit; never for heartbeats or stages within a boot.
func TestTrackerChanged(t *testing.T) {
	tr := NewTracker("head")
	boot1 := t0.Format(time.RFC3339)
	rec := func(stage string, seen time.Duration, boot, booted string) Record {
		r := nodeAt("n1", stage, t0.Add(seen), booted)
		r.Fields = append(r.Fields, Field{"boot", boot})
		return r
	}
	steps := []struct {
		name  string
		rec   Record
		write bool
	}{
		{"first seen", rec("DHCP", 0, boot1, ""), true},
		{"within the boot", rec("KERNEL", 5*time.Second, boot1, "c1"), true}, // booted commit known now
		{"still booting", rec("SYSTEM_OVERLAY", 9*time.Second, boot1, "c1"), false},
		{"booted", rec("RUNTIME_OVERLAY", 20*time.Second, boot1, "c1"), true},
		{"heartbeat", rec("RUNTIME_OVERLAY", 80*time.Second, boot1, "c1"), false},
		{"a new boot", rec("DHCP", time.Hour, t0.Add(time.Hour).Format(time.RFC3339), "c1"), true},
		{"booted another commit", rec("RUNTIME_OVERLAY", time.Hour+time.Minute, t0.Add(time.Hour).Format(time.RFC3339), "c2"), true},
		{"failed", rec("NOT_FOUND", 2*time.Hour, t0.Add(time.Hour).Format(time.RFC3339), "c2"), true},
	}
	for _, s := range steps {
		got := tr.Changed([]Record{s.rec, nodeAt("other", "DHCP", t0, "").withServer("other")})
		if (len(got) == 1) != s.write || len(got) > 1 {
			t.Errorf("%s: wrote %v, want a write: %v", s.name, got, s.write)
		}
		tr.Written(got)
	}
	if tab := tr.Table(t0, nil); tab.Get("nodes") != "1" {
		t.Errorf("table %s", tab)
	}
	// A restart: seeded with what is in the notes, it writes nothing again.
	again := NewTracker("head")
	again.Seed([]Record{steps[len(steps)-1].rec, Reboot("head", t0, []string{"n1"})})
	if got := again.Changed([]Record{steps[len(steps)-1].rec}); len(got) != 0 {
		t.Errorf("after a restart: %v", got)
	}
	if _, changed := again.Reboot(t0.Add(time.Minute), []string{"n1"}); changed {
		t.Error("the same reboot set is written again")
	}
	if r, changed := again.Reboot(t0.Add(time.Minute), nil); !changed || r.Get("nodes") != "" {
		t.Errorf("an emptied reboot set: %s %v", r, changed)
	}
}

func (r Record) withServer(s string) Record {
	out := Record{Type: r.Type, Fields: slices.Clone(r.Fields)}
	out.Fields[0].Value = s
	return out
}

// FirstParents reads the line in chunks, newest first, to the root.
func TestFirstParentsLine(t *testing.T) {
	dir, c := newRepo(t, 150)
	src, err := gitsrc.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	next := FirstParents(src, c[len(c)-1])
	var got []string
	for {
		h, err := next()
		if err != nil {
			t.Fatal(err)
		}
		if h == "" {
			break
		}
		got = append(got, h)
	}
	if !slices.Equal(got, newestFirst(c)) {
		t.Errorf("line of %d commits, want %d: %s", len(got), len(c), strings.Join(got[:min(3, len(got))], " "))
	}
}
