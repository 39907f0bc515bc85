package status

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestInitFailed: a node's INIT_FAILED report is shown as its stage with
// the reason, refreshes LastSeen (the node said it), marks the boot's
// timeline, survives a restart, and the next boot's DHCP clears it while
// the previous boot keeps the mark.
func TestInitFailed(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	s, err := Open(Config{Dir: dir, Now: c.now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ip := addr("10.99.0.11")
	s.Record(Event{Node: "c001", Stage: StageDHCP, Addr: ip, Time: t0})
	s.Record(Event{Node: "c001", Stage: StageSystemOverlay, Sent: "system.img", Addr: ip, Time: t0.Add(5 * time.Second)})
	const why = "no init to exec: tried /nonexistent /sbin/init /etc/init /bin/init"
	s.Record(Event{Node: "c001", Stage: StageInitFailed, Sent: "init", Reason: why, Addr: ip, Time: t0.Add(9 * time.Second)})
	r, _ := s.Node("c001")
	if r.Error == nil || r.Error.Stage != StageInitFailed || r.Error.Reason != why || r.Stage != StageSystemOverlay {
		t.Fatalf("after INIT_FAILED: %+v %+v", r, r.Error)
	}
	if !r.LastSeen.Equal(t0.Add(9*time.Second)) || !r.Boot.InitFailed.Equal(t0.Add(9*time.Second)) || r.Boot.InitReason != why {
		t.Fatalf("LastSeen %v, timeline %+v", r.LastSeen, r.Boot)
	}
	if got := s.StageCounts(); got[StageInitFailed] != 1 {
		t.Fatalf("counts: %v", got)
	}

	// The table says it, with the reason below it; the JSON carries it.
	rep := s.Report("head", "", time.Minute, []string{"c001"})
	rep.Now = t0.Add(10 * time.Second)
	var b bytes.Buffer
	if err := WriteTable(&b, rep, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "INIT_FAILED") || !strings.Contains(b.String(), "c001: INIT_FAILED: "+why) {
		t.Fatalf("table:\n%s", b.String())
	}
	js, _ := json.Marshal(rep)
	if !strings.Contains(string(js), `"stage":"INIT_FAILED"`) || !strings.Contains(string(js), `"reason":"`+why+`"`) ||
		!strings.Contains(string(js), `"init_failed":{"at":"2026-11-25T15:00:09Z","reason":"`+why+`"}`) {
		t.Fatalf("json: %s", js)
	}

	// A restart keeps it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir, Now: c.now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _ = s.Node("c001")
	if r.Error == nil || r.Error.Reason != why || r.Boot.InitReason != why {
		t.Fatalf("after a restart: %+v %+v", r.Error, r.Boot)
	}

	// The reboot: its DHCP starts a new boot and clears the error.
	s.Record(Event{Node: "c001", Stage: StageDHCP, Addr: ip, Time: t0.Add(75 * time.Second)})
	r, _ = s.Node("c001")
	if r.Error != nil || r.Stage != StageDHCP || !r.Boot.InitFailed.IsZero() || r.PrevBoot.InitReason != why {
		t.Fatalf("after the reboot: %+v, boot %+v, previous %+v", r.Error, r.Boot, r.PrevBoot)
	}
	b.Reset()
	if err := WriteTimeline(&b, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "previous boot: started 2026-11-25T15:00:00Z, init failed") ||
		!regexp.MustCompile(`INIT_FAILED +\+9\.0s +\+4\.0s  `+regexp.QuoteMeta(why)).MatchString(b.String()) {
		t.Fatalf("timeline:\n%s", b.String())
	}
}

// TestInitFailedOutlivesTheAgentsPull: the agent /init started before it
// looked for an init pulls the runtime overlay after the report; that
// pull must not hide INIT_FAILED. The next boot (its DHCP) clears it.
func TestInitFailedOutlivesTheAgentsPull(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), Now: (&clock{t: t0}).now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ip := addr("10.99.0.11")
	s.Record(Event{Node: "c001", Stage: StageSystemOverlay, Sent: "system.img", Addr: ip, Time: t0})
	s.Record(Event{Node: "c001", Stage: StageInitFailed, Sent: "init", Reason: "no init", Addr: ip, Time: t0.Add(time.Second)})
	s.Record(Event{Node: "c001", Stage: StageRuntimeOverlay, Sent: "runtime.img.gz", Addr: ip, Time: t0.Add(2 * time.Second)})
	if r, _ := s.Node("c001"); r.Error == nil || r.Error.Stage != StageInitFailed {
		t.Fatalf("the agent's pull hid INIT_FAILED: %+v %+v", r, r.Error)
	}
	s.Record(Event{Node: "c001", Stage: StageDHCP, Addr: ip, Time: t0.Add(time.Minute)})
	if r, _ := s.Node("c001"); r.Error != nil {
		t.Fatalf("the next boot kept the error: %+v", r.Error)
	}
}
