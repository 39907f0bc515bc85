package status

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	return &Report{
		Server: "head", Now: t0, IntervalSeconds: 60,
		Nodes: []NodeRecord{
			{Name: "c001", Stage: StageRuntimeOverlay, Sent: "runtime.img.gz", LastSeen: t0.Add(-16 * time.Second)},
			{Name: "c002", Stage: StageImage, Sent: "image.img.gz", LastSeen: t0.Add(-65 * time.Second)},
			{Name: "c003", Stage: StageKernel, Sent: "vmlinuz", LastSeen: t0.Add(-120 * time.Second)},
			{Name: "c004"},
			{Name: "c005", Stage: StageKernel, Sent: "vmlinuz", LastSeen: t0.Add(-2 * time.Second),
				Error: &Failure{Stage: StageNotFound, Sent: "image.img.gz", Time: t0}},
			{Name: "c006", Stage: StageSystemOverlay, Sent: "system.img.gz", LastSeen: t0.Add(-4 * time.Second),
				Error: &Failure{Stage: StageInitFailed, Sent: "init", Reason: "no init to exec: tried /sbin/init /etc/init /bin/init", Time: t0}},
		},
		Unknown: []Unknown{{MAC: "52:54:00:aa:bb:cc", Addr: addr("10.99.0.201"), Stage: StageIPXE, FirstSeen: t0.Add(-time.Minute), LastSeen: t0.Add(-3 * time.Second), Count: 4}},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestTableGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		colour bool
	}{{"table.txt", false}, {"table-colour.txt", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTable(&b, sampleReport(), tc.colour); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

func TestTableColours(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, sampleReport(), true)
	lines := strings.Split(b.String(), "\n")
	for i, want := range []string{"", "", colourYellow, colourRed, "", ""} {
		l := lines[i]
		switch {
		case want == "" && strings.Contains(l, "\x1b"):
			t.Errorf("line %d coloured: %q", i, l)
		case want != "" && !strings.HasPrefix(l, want):
			t.Errorf("line %d not %q: %q", i, want, l)
		}
	}
	b.Reset()
	WriteTable(&b, sampleReport(), false)
	if strings.Contains(b.String(), "\x1b") {
		t.Error("colour without a terminal")
	}
}

func TestStaleness(t *testing.T) {
	for _, tc := range []struct {
		age, interval time.Duration
		want          int
	}{
		{64 * time.Second, time.Minute, 0},
		{65 * time.Second, time.Minute, 1},
		{119 * time.Second, time.Minute, 1},
		{120 * time.Second, time.Minute, 2},
		{65 * time.Second, 0, 1}, // default interval
	} {
		if got := Staleness(tc.age, tc.interval); got != tc.want {
			t.Errorf("Staleness(%v, %v) = %d, want %d", tc.age, tc.interval, got, tc.want)
		}
	}
}

func TestUnknownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteUnknown(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "unknown.txt", b.Bytes())
}

func TestFilter(t *testing.T) {
	rep := sampleReport()
	missing := rep.Filter([]string{"c00[12]", "c004", "x9"})
	var names []string
	for _, r := range rep.Nodes {
		names = append(names, r.Name)
	}
	if strings.Join(names, " ") != "c001 c002 c004" || len(missing) != 1 || missing[0] != "x9" {
		t.Fatalf("kept %v, missing %v", names, missing)
	}
}

func TestSuggestName(t *testing.T) {
	for _, tc := range []struct{ name, mac, want string }{
		{"canonical", "52:54:00:aa:bb:cc", "n525400aabbcc"},
		{"upper dashes", "52-54-00-AA-BB-CC", "n525400aabbcc"},
		{"dotted", "5254.00aa.bbcc", "n525400aabbcc"},
	} {
		if got := SuggestName(tc.mac); got != tc.want {
			t.Errorf("%s: SuggestName(%q) = %q, want %q", tc.name, tc.mac, got, tc.want)
		}
	}
}
