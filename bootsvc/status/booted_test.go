package status

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	kA = "sha256:aaaa"
	iA = "sha256:a1a1"
	sA = "sha256:a2a2"
	kB = "sha256:bbbb"
	sB = "sha256:b2b2"
)

// TestBootedRecord: a kernel starts a new boot, the image and system
// overlay fill it in; DHCP, the script, the runtime overlay, events
// without a digest and errors leave it alone; a retired artifact's commit
// wins over the current one's.
func TestBootedRecord(t *testing.T) {
	s := NewMemory()
	rec := func(ev Event) NodeRecord {
		t.Helper()
		ev.Node = "c001"
		s.Record(ev)
		r, _ := s.Node("c001")
		return r
	}
	rec(Event{Stage: StageDHCP})
	rec(Event{Stage: StageIPXE})
	rec(Event{Stage: StageKernel, Sent: "vmlinuz", Digest: kA, Commit: "A"})
	rec(Event{Stage: StageImage, Sent: "image.img.gz", Digest: iA, Commit: "A"})
	r := rec(Event{Stage: StageSystemOverlay, Sent: "system.img.gz", Digest: sA, Commit: "A"})
	booted := BootDigests{Kernel: kA, Image: iA, System: sA}
	if r.Booted != "A" || r.BootedDigests != booted {
		t.Fatalf("after a boot at A: %+v", r)
	}
	for _, ev := range []Event{
		{Stage: StageRuntimeOverlay, Sent: "runtime.img.gz", Digest: "sha256:cccc", Commit: "B"},
		{Stage: StageDHCP},
		{Stage: StageIPXE},
		{Stage: StageKernel, Sent: "vmlinuz"}, // a HEAD: no digest
		{Stage: StageNotFound, Sent: "vmlinuz", Digest: kB, Commit: "B"},
		{Stage: StageTFTP, Sent: "undionly.kpxe"},
	} {
		if r := rec(ev); r.Booted != "A" || r.BootedDigests != booted {
			t.Fatalf("%+v changed what was booted: %+v", ev, r)
		}
	}

	// A new boot: the kernel (from the current snapshot B) replaces it; the
	// image is the same in B; the system overlay comes from retired A.
	r = rec(Event{Stage: StageKernel, Digest: kA, Commit: "B"})
	if r.Booted != "B" || r.BootedDigests != (BootDigests{Kernel: kA}) {
		t.Fatalf("a kernel starts a new boot: %+v", r)
	}
	rec(Event{Stage: StageImage, Digest: iA, Commit: "B"})
	r = rec(Event{Stage: StageSystemOverlay, Digest: sA, Commit: "A", Retired: true})
	if r.Booted != "A" || r.BootedDigests != booted {
		t.Fatalf("a retired system overlay: %+v", r)
	}

	// An image fetched without a kernel (after a restart of an old store):
	// its commit fills an empty Booted.
	ev := Event{Node: "c002", Stage: StageImage, Digest: iA, Commit: "A"}
	s.Record(ev)
	if r, _ := s.Node("c002"); r.Booted != "A" || r.BootedDigests != (BootDigests{Image: iA}) {
		t.Fatalf("image only: %+v", r)
	}
}

// TestRecordAllocs: recording a boot artifact for a known node does not
// allocate (the hot path stays as it was).
func TestRecordAllocs(t *testing.T) {
	s := NewMemory()
	evs := []Event{
		{Node: "c001", Stage: StageKernel, Sent: "vmlinuz", Digest: kA, Commit: "A", Time: t0},
		{Node: "c001", Stage: StageImage, Sent: "image.img.gz", Digest: iA, Commit: "A", Time: t0},
		{Node: "c001", Stage: StageSystemOverlay, Sent: "system.img.gz", Digest: sA, Commit: "A", Retired: true, Time: t0},
		{Node: "c001", Stage: StageRuntimeOverlay, Sent: "runtime.img.gz", Time: t0},
	}
	for _, ev := range evs {
		s.Record(ev)
	}
	if n := testing.AllocsPerRun(200, func() {
		for _, ev := range evs {
			s.Record(ev)
		}
	}); n > 0 {
		t.Fatalf("Record allocates %.1f times per boot", n)
	}
}

func TestNeedsReboot(t *testing.T) {
	cur := BootDigests{Kernel: kA, Image: iA, System: sA}
	for _, tc := range []struct {
		name   string
		booted BootDigests
		cur    BootDigests
		want   bool
	}{
		{"never booted", BootDigests{}, cur, false},
		{"same", cur, cur, false},
		{"kernel changed", BootDigests{Kernel: kB, Image: iA, System: sA}, cur, true},
		{"image changed", BootDigests{Kernel: kA, Image: "sha256:ffff", System: sA}, cur, true},
		{"system changed", BootDigests{Kernel: kA, Image: iA, System: sB}, cur, true},
		{"boot in progress, same kernel", BootDigests{Kernel: kA}, cur, false},
		{"boot in progress, old kernel", BootDigests{Kernel: kB}, cur, true},
		{"current not built", BootDigests{Kernel: kA, Image: iA, System: sB}, BootDigests{Kernel: kA, Image: iA}, false},
	} {
		if got := tc.booted.NeedsReboot(tc.cur); got != tc.want {
			t.Errorf("%s: NeedsReboot = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMarkReboots: only nodes in the snapshot, booted, with a changed boot
// artifact need a reboot.
func TestMarkReboots(t *testing.T) {
	cur := BootDigests{Kernel: kA, Image: iA, System: sB}
	rep := &Report{Commit: "B", Nodes: []NodeRecord{
		{Name: "c001", Booted: "A", BootedDigests: BootDigests{Kernel: kA, Image: iA, System: sA}},
		{Name: "c002", Booted: "B", BootedDigests: cur},
		{Name: "c003"},
		{Name: "gone", Booted: "A", BootedDigests: BootDigests{Kernel: kA, Image: iA, System: sA}},
		{Name: "c004", NeedsReboot: true}, // stale: recomputed
	}}
	rep.MarkReboots(func(name string) (BootDigests, bool) { return cur, name != "gone" })
	var got []string
	for _, r := range rep.Nodes {
		if r.NeedsReboot {
			got = append(got, r.Name)
		}
	}
	if strings.Join(got, " ") != "c001" || rep.Reboots() != 1 {
		t.Fatalf("need a reboot: %v", got)
	}
	b, _ := json.Marshal(rep.Nodes[2])
	if !bytes.Contains(b, []byte(`"needs_reboot":false`)) || bytes.Contains(b, []byte("booted")) {
		t.Fatalf("never-booted node in JSON: %s", b)
	}
	b, _ = json.Marshal(rep.Nodes[0])
	if !bytes.Contains(b, []byte(`"booted":"A"`)) || !bytes.Contains(b, []byte(`"needs_reboot":true`)) ||
		!bytes.Contains(b, []byte(`"booted_digests":{"kernel":"sha256:aaaa","image":"sha256:a1a1","system":"sha256:a2a2"}`)) {
		t.Fatalf("booted node in JSON: %s", b)
	}
}

// TestBootedPersisted: what a node booted survives a restart; needs_reboot
// is not written to the state file; a state file from before booted
// existed still loads.
func TestBootedPersisted(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Record(Event{Node: "c001", Stage: StageKernel, Sent: "vmlinuz", Digest: kA, Commit: "A"})
	s.Record(Event{Node: "c001", Stage: StageSystemOverlay, Sent: "system.img.gz", Digest: sA, Commit: "A"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if bytes.Contains(b, []byte("needs_reboot")) || !bytes.Contains(b, []byte(`"booted":"A"`)) {
		t.Fatalf("state file:\n%s", b)
	}
	s2, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, _ := s2.Node("c001"); r.Booted != "A" || r.BootedDigests != (BootDigests{Kernel: kA, System: sA}) || r.Stage != StageSystemOverlay {
		t.Fatalf("after reopen: %+v", r)
	}

	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, StateFile), []byte(oldStateFile), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Config{Dir: old})
	if err != nil {
		t.Fatalf("a state file of an older version: %v", err)
	}
	defer s3.Close()
	if r, ok := s3.Node("c001"); !ok || r.Stage != StageRuntimeOverlay || r.Booted != "" || !r.BootedDigests.IsZero() {
		t.Fatalf("c001 from an old state file: %+v", r)
	}
}

// oldStateFile is a status.json written before booted existed.
const oldStateFile = `{
  "version": 1,
  "saved": "2026-11-25T15:00:00Z",
  "nodes": [
    {
      "name": "c001",
      "mac": "52:54:00:00:00:01",
      "stage": "RUNTIME_OVERLAY",
      "sent": "runtime.img.gz",
      "addr": "10.99.0.11",
      "last_seen": "2026-11-25T14:59:44Z"
    }
  ],
  "unknown": [],
  "errors": []
}
`

func TestTableRebootGolden(t *testing.T) {
	rep := sampleReport()
	rep.Commit = "3f2a9c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
	rep.Nodes[0].NeedsReboot = true
	rep.Nodes[2].NeedsReboot = true
	var b bytes.Buffer
	if err := WriteTable(&b, rep, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "table-reboot.txt", b.Bytes())

	rep.Nodes[2].NeedsReboot = false
	rep.Commit = ""
	b.Reset()
	WriteTable(&b, rep, false)
	if !strings.HasSuffix(b.String(), "\n* 1 node runs an older commit's boot artifacts: reboot it to pick up the applied commit\n") {
		t.Fatalf("one node, no commit:\n%s", b.String())
	}
}
