package notes

import (
	"strings"
	"testing"
	"time"
)

func TestRolloutRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 4, 45, 1, 0, time.UTC)
	recs := []Record{
		Rollout("head", "r1", 1, at, RolloutStarted, Field{"batch", "10%"}, Field{"nodes", "2"}),
		Rollout("head", "r1", 12, at, RolloutNode, Field{"name", "c001"}, Field{"result", "failed"},
			Field{"reason", `BMC 10.0.0.1: "auth" refused`}),
	}
	data := Format(recs)
	want := "rollout server=head id=r1 seq=000001 at=2026-12-07T04:45:01Z event=started batch=10% nodes=2\n"
	if !strings.HasPrefix(string(data), want) {
		t.Fatalf("Format:\n%s\nwant first line\n%s", data, want)
	}
	back, err := Parse(data)
	if err != nil || len(back) != 2 {
		t.Fatalf("Parse: %v, %d records", err, len(back))
	}
	for i := range recs {
		if !back[i].Equal(recs[i]) {
			t.Errorf("record %d: got %v, want %v", i, back[i], recs[i])
		}
	}
	if c := Canonical([]Record{recs[1], recs[0]}); !c[0].Equal(recs[0]) {
		t.Errorf("sorted lines put record 12 before record 1: %v", c)
	}
	if back[1].Get("reason") != `BMC 10.0.0.1: "auth" refused` || back[1].Get("event") != RolloutNode {
		t.Errorf("fields lost: %v", back[1])
	}
}
