package notes

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 11, 25, 15, 1, 3, 0, time.UTC)
)

// The records of the contract in DESIGN.md, in the canonical form (one
// space after the type).
func TestFormatContract(t *testing.T) {
	got := string(Format([]Record{
		Apply("head", t0, ResultApplied, 2, 1, 0),
		Diagnostic("head", "nodes.hcl", 12, 14, "IP address outside its network"),
		Node("head", "c001", "RUNTIME_OVERLAY", "runtime.img.gz", "10.99.0.11", t1.In(time.FixedZone("X", 3600)), "3f2a9c1"),
		Node("head", "c002", "DHCP", "", "", time.Time{}, ""),
	}))
	want := `apply server=head at=2026-11-25T15:00:00Z result=applied add=2 change=1 destroy=0
diagnostic server=head file=nodes.hcl line=12 col=14 summary="IP address outside its network"
node server=head name=c001 stage=RUNTIME_OVERLAY sent=runtime.img.gz ip=10.99.0.11 seen=2026-11-25T15:01:03Z booted=3f2a9c1
node server=head name=c002 stage=DHCP sent= ip= seen= booted=
`
	if got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
}

// The padded form of DESIGN.md reads the same as the canonical one.
func TestParseDesignNote(t *testing.T) {
	data, err := os.ReadFile("testdata/design.note")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	for _, c := range []struct{ rec, key, want string }{
		{"apply", "result", "applied"},
		{"apply", "destroy", "0"},
		{"diagnostic", "summary", "IP address outside its network"},
		{"node", "stage", "RUNTIME_OVERLAY"},
		{"node", "booted", "3f2a9c1"},
		{"node", "missing", ""},
	} {
		i := slices.IndexFunc(recs, func(r Record) bool { return r.Type == c.rec })
		if got := recs[i].Get(c.key); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.rec, c.key, got, c.want)
		}
	}
	if got := recs[2].Time("seen"); !got.Equal(t1) {
		t.Errorf("seen = %v, want %v", got, t1)
	}
	if got := Format(recs); string(got) != string(Format(mustParse(t, got))) {
		t.Errorf("canonical form does not round-trip:\n%s", got)
	}
}

func mustParse(t *testing.T, data []byte) []Record {
	t.Helper()
	recs, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestParseQuotingAndUnknownTypes(t *testing.T) {
	data, err := os.ReadFile("testdata/merged.note")
	if err != nil {
		t.Fatal(err)
	}
	recs := mustParse(t, data)
	if len(recs) != 9 {
		t.Fatalf("got %d records, want 9", len(recs))
	}
	if got, want := recs[3].Get("file"), "site files/racks.hcl"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if got, want := recs[3].Get("summary"), "unknown \"image\" \\ tab\there"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	last := recs[8]
	if last.Type != "unknown-future" || last.Get("value") != "with = sign" || last.Get("ünïcode") != "ok" {
		t.Errorf("unknown record = %+v", last)
	}
	// What Format writes is what the file says (it is canonical already).
	if got := string(Format(recs)); got != string(data) {
		t.Errorf("Format(Parse(x)) != x:\n%s", got)
	}
}

func TestParseMalformed(t *testing.T) {
	data, err := os.ReadFile("testdata/malformed.note")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Parse(data)
	var perrs ParseErrors
	if !errors.As(err, &perrs) {
		t.Fatalf("err = %v, want ParseErrors", err)
	}
	var lines []int
	for _, e := range perrs {
		lines = append(lines, e.Line)
	}
	if want := []int{2, 3, 4}; !slices.Equal(lines, want) {
		t.Errorf("bad lines %v, want %v (%v)", lines, want, err)
	}
	if got := string(Format(recs)); got != "apply server=head at=2026\nnode server=a name=b\n" {
		t.Errorf("kept:\n%s", got)
	}
}

// Format writes whatever it is given so that Parse reads it back.
func TestFormatSanitizes(t *testing.T) {
	recs := []Record{
		{Type: "odd type=\"x\"", Fields: []Field{{"a key", "v"}, {"", "empty key"}, {"k", "line\nbreak"}, {"n", "null"}}},
		{Type: ""},
	}
	data := Format(recs)
	back := mustParse(t, data)
	want := "oddtypex akey=v _=\"empty key\" k=\"line\\nbreak\" n=\"null\"\n_\n"
	if string(data) != want {
		t.Errorf("Format = %q, want %q", data, want)
	}
	if len(back) != 2 || back[0].Get("k") != "line\nbreak" || back[0].Get("n") != "null" {
		t.Errorf("Parse(Format) = %+v", back)
	}
}

func TestLatestNodes(t *testing.T) {
	recs := []Record{
		Node("row2", "c001", "DHCP", "", "", t0, ""),
		Node("head", "c002", "KERNEL", "vmlinuz", "10.0.0.2", t1, "abc"),
		Node("head", "c001", "RUNTIME_OVERLAY", "runtime.img.gz", "10.0.0.1", t1, "abc"),
		Apply("head", t1, ResultApplied, 1, 0, 0),
		Node("head", "c001", "KERNEL", "vmlinuz", "10.0.0.1", t0, "abc"),
		Node("head", "c002", "DHCP", "", "", time.Time{}, ""),
		// Seen in the same second: the stage further along the boot wins
		// (the order "R" < "S" of the lines would pick SYSTEM_OVERLAY),
		// then a later boot, then the line that sorts last, whatever the
		// order of the lines.
		Node("head", "c003", "IMAGE", "a", "", t0, ""),
		Node("head", "c003", "TFTP", "b", "", t0, ""),
		Node("head", "c004", "RUNTIME_OVERLAY", "runtime.img.gz", "", t1, "abc"),
		Node("head", "c004", "SYSTEM_OVERLAY", "system.img.gz", "", t1, "abc"),
		withBoot(Node("head", "c005", "IPXE", "", "", t1, ""), t1),
		withBoot(Node("head", "c005", "RUNTIME_OVERLAY", "", "", t1, ""), t0),
		Node("head", "c006", "KERNEL", "a", "", t0, ""),
		Node("head", "c006", "KERNEL", "b", "", t0, ""),
	}
	want := []string{
		"node server=head name=c001 stage=RUNTIME_OVERLAY sent=runtime.img.gz ip=10.0.0.1 seen=2026-11-25T15:01:03Z booted=abc",
		"node server=head name=c002 stage=KERNEL sent=vmlinuz ip=10.0.0.2 seen=2026-11-25T15:01:03Z booted=abc",
		"node server=head name=c003 stage=IMAGE sent=a ip= seen=2026-11-25T15:00:00Z booted=",
		"node server=head name=c004 stage=RUNTIME_OVERLAY sent=runtime.img.gz ip= seen=2026-11-25T15:01:03Z booted=abc",
		"node server=head name=c005 stage=IPXE sent= ip= seen=2026-11-25T15:01:03Z booted= boot=2026-11-25T15:01:03Z",
		"node server=head name=c006 stage=KERNEL sent=b ip= seen=2026-11-25T15:00:00Z booted=",
		"node server=row2 name=c001 stage=DHCP sent= ip= seen=2026-11-25T15:00:00Z booted=",
	}
	reversed := slices.Clone(recs)
	slices.Reverse(reversed)
	for _, in := range [][]Record{recs, reversed} {
		var got []string
		for _, r := range LatestNodes(in) {
			got = append(got, r.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("LatestNodes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestEdits(t *testing.T) {
	old := []Record{
		Node("row2", "r1", "DHCP", "", "", t0, ""),
		Apply("head", t0, ResultApplied, 1, 0, 0),
		Node("head", "c001", "KERNEL", "vmlinuz", "", t0, ""),
		{Type: "future", Fields: []Field{{"x", "1"}}},
	}
	lines := func(recs []Record) string { return string(Format(recs)) }

	added := AppendUnique(Apply("head", t0, ResultApplied, 1, 0, 0), Diagnostic("head", "a.hcl", 1, 2, "bad"))(old)
	want := `apply server=head at=2026-11-25T15:00:00Z result=applied add=1 change=0 destroy=0
diagnostic server=head file=a.hcl line=1 col=2 summary=bad
future x=1
node server=head name=c001 stage=KERNEL sent=vmlinuz ip= seen=2026-11-25T15:00:00Z booted=
node server=row2 name=r1 stage=DHCP sent= ip= seen=2026-11-25T15:00:00Z booted=
`
	if got := lines(added); got != want {
		t.Errorf("AppendUnique:\n%s\nwant:\n%s", got, want)
	}
	if again := AppendUnique(Apply("head", t0, ResultApplied, 1, 0, 0))(added); lines(again) != lines(added) {
		t.Errorf("AppendUnique of a present record changed the note:\n%s", lines(again))
	}

	nodes := []Record{Node("head", "c002", "DHCP", "", "", t1, ""), Node("head", "c001", "IMAGE", "img", "", t1, "")}
	replaced := ReplaceNodes("head", nodes)(old)
	want = `apply server=head at=2026-11-25T15:00:00Z result=applied add=1 change=0 destroy=0
future x=1
node server=head name=c001 stage=IMAGE sent=img ip= seen=2026-11-25T15:01:03Z booted=
node server=head name=c002 stage=DHCP sent= ip= seen=2026-11-25T15:01:03Z booted=
node server=row2 name=r1 stage=DHCP sent= ip= seen=2026-11-25T15:00:00Z booted=
`
	if got := lines(replaced); got != want {
		t.Errorf("ReplaceNodes:\n%s\nwant:\n%s", got, want)
	}
	// The same nodes in another order leave the note alone.
	slices.Reverse(nodes)
	if again := ReplaceNodes("head", nodes)(replaced); lines(again) != lines(replaced) {
		t.Errorf("ReplaceNodes with the same nodes changed the note:\n%s", lines(again))
	}
	if got := lines(ReplaceNodes("head", nil)(replaced)); strings.Contains(got, "server=head name=") {
		t.Errorf("ReplaceNodes(nil) kept head's nodes:\n%s", got)
	}
}

func withBoot(r Record, boot time.Time) Record {
	r.Fields = append(r.Fields, Field{"boot", formatTime(boot)})
	return r
}
