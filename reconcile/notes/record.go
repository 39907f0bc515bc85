package notes

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logfmt/logfmt"
)

// Record types gitboot writes. Parse keeps records of any other type.
const (
	TypeApply      = "apply"
	TypeDiagnostic = "diagnostic"
	TypeNode       = "node"
)

// Results of an apply record.
const (
	ResultApplied    = "applied"
	ResultRejected   = "rejected"
	ResultSuperseded = "superseded"
	ResultPlanned    = "planned"
)

// Record is one line of a note: a type and ordered key/value fields.
type Record struct {
	Type   string
	Fields []Field
}

// Field is one key=value of a Record.
type Field struct {
	Key, Value string
}

// Apply is the record of what server did with a commit at time at: result
// is one of the Result constants, add/change/destroy the plan summary.
func Apply(server string, at time.Time, result string, add, change, destroy int) Record {
	return Record{Type: TypeApply, Fields: []Field{
		{"server", server},
		{"at", formatTime(at)},
		{"result", result},
		{"add", strconv.Itoa(add)},
		{"change", strconv.Itoa(change)},
		{"destroy", strconv.Itoa(destroy)},
	}}
}

// Diagnostic is one problem server found in a commit, at file:line:col.
func Diagnostic(server, file string, line, col int, summary string) Record {
	return Record{Type: TypeDiagnostic, Fields: []Field{
		{"server", server},
		{"file", file},
		{"line", strconv.Itoa(line)},
		{"col", strconv.Itoa(col)},
		{"summary", summary},
	}}
}

// Node is the boot status of node name as served by server: the stage it
// reached, the file last sent, its address, when it was last seen (the zero
// time for never) and the commit it booted.
func Node(server, name, stage, sent, ip string, seen time.Time, booted string) Record {
	return Record{Type: TypeNode, Fields: []Field{
		{"server", server},
		{"name", name},
		{"stage", stage},
		{"sent", sent},
		{"ip", ip},
		{"seen", formatTime(seen)},
		{"booted", booted},
	}}
}

// formatTime is RFC 3339 in UTC to the second; the zero time is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Get returns the value of the first field named key, or "".
func (r Record) Get(key string) string {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// Time returns the field named key as a time, or the zero time if it is
// missing or not RFC 3339.
func (r Record) Time(key string) time.Time {
	t, err := time.Parse(time.RFC3339, r.Get(key))
	if err != nil {
		return time.Time{}
	}
	return t
}

// String is the record's line without the newline.
func (r Record) String() string {
	var b bytes.Buffer
	r.appendTo(&b)
	return b.String()
}

// Equal reports whether r and o have the same type and fields in the same
// order.
func (r Record) Equal(o Record) bool {
	return r.Type == o.Type && slices.Equal(r.Fields, o.Fields)
}

// Format writes one line per record: the type, one space, then the fields
// in logfmt ("key=value", quoted where needed), each line ending in a
// newline. This is the canonical form: no padding, so equal records are
// equal lines and cat_sort_uniq drops duplicates. Format never fails: runes
// a type or key cannot hold (spaces, control characters, '=', '"') are
// dropped, and a type or key left empty is written as "_", so whatever
// Format writes, Parse reads.
func Format(recs []Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		r.appendTo(&b)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (r Record) appendTo(b *bytes.Buffer) {
	b.WriteString(word(r.Type))
	enc := logfmt.NewEncoder(b)
	for _, f := range r.Fields {
		b.WriteByte(' ')
		// The encoder writes a space before every pair but the first of a
		// record; ending the record each time keeps it at one pair.
		enc.Reset()
		// Neither can fail: the key is a valid word, the value a string.
		_ = enc.EncodeKeyval(word(f.Key), f.Value)
	}
}

// word keeps what logfmt allows in a key, and is "_" if nothing is left.
func word(s string) string {
	if validWord(s) {
		return s
	}
	w := strings.Map(func(r rune) rune {
		if r <= ' ' || r == '=' || r == '"' || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if w == "" {
		return "_"
	}
	return w
}

func validWord(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '=' || r == '"' || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// ParseError is a line Parse skipped.
type ParseError struct {
	Line int    // 1-based
	Text string // the line, shortened to 80 bytes
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("line %d: %v: %q", e.Line, e.Err, e.Text)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseErrors are the lines Parse skipped, in order.
type ParseErrors []*ParseError

func (es ParseErrors) Error() string {
	msgs := make([]string, 0, min(len(es), 3))
	for _, e := range es[:min(len(es), 3)] {
		msgs = append(msgs, e.Error())
	}
	if len(es) > 3 {
		msgs = append(msgs, fmt.Sprintf("and %d more", len(es)-3))
	}
	return "malformed note: " + strings.Join(msgs, "; ")
}

// Parse reads a note. Blank lines are skipped, records of unknown types are
// kept. A malformed line is skipped and reported: Parse returns every record
// it could read, and a ParseErrors listing the lines it skipped, so a caller
// may use the records and log the error.
func Parse(data []byte) ([]Record, error) {
	var recs []Record
	var errs ParseErrors
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r, err := parseLine(line)
		if err != nil {
			text := line
			if len(text) > 80 {
				text = text[:80]
			}
			errs = append(errs, &ParseError{Line: n, Text: string(text), Err: err})
			continue
		}
		recs = append(recs, r)
	}
	if errs != nil {
		return recs, errs
	}
	return recs, nil
}

func parseLine(line []byte) (Record, error) {
	line = bytes.TrimLeft(line, " \t")
	i := bytes.IndexFunc(line, func(r rune) bool { return r <= ' ' })
	if i < 0 {
		i = len(line)
	}
	typ, rest := line[:i], line[i:]
	if !validWord(string(typ)) {
		return Record{}, fmt.Errorf("no record type")
	}
	r := Record{Type: string(typ)}
	dec := logfmt.NewDecoderSize(bytes.NewReader(rest), len(rest)+1)
	if dec.ScanRecord() {
		for dec.ScanKeyval() {
			v := string(dec.Value())
			if !utf8.ValidString(v) {
				// As Format would write it: each bad byte a U+FFFD.
				v = strings.Map(func(r rune) rune { return r }, v)
			}
			r.Fields = append(r.Fields, Field{string(dec.Key()), v})
		}
	}
	if err := dec.Err(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// LatestNodes returns the newest node record per (server, name) by seen,
// sorted by server then name. Records of other types are ignored. A record
// whose seen is missing or unreadable is older than any with a time; of two
// records seen in the same second, sameSecondNewer decides, so the answer
// does not depend on the order of the lines (a union of notes sorts them).
func LatestNodes(recs []Record) []Record {
	type id struct{ server, name string }
	type best struct {
		rec  Record
		seen time.Time
	}
	latest := map[id]best{}
	for _, r := range recs {
		if r.Type != TypeNode {
			continue
		}
		k := id{r.Get("server"), r.Get("name")}
		seen := r.Time("seen")
		b, ok := latest[k]
		if !ok || seen.After(b.seen) || seen.Equal(b.seen) && sameSecondNewer(r, b.rec) {
			latest[k] = best{r, seen}
		}
	}
	out := make([]Record, 0, len(latest))
	for _, b := range latest {
		out = append(out, b.rec)
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := strings.Compare(a.Get("server"), b.Get("server")); c != 0 {
			return c
		}
		return strings.Compare(a.Get("name"), b.Get("name"))
	})
	return out
}

// Canonical returns recs as `git notes merge -s cat_sort_uniq` leaves them:
// sorted by line, each line once. A note written in this form is unchanged
// by such a merge with itself, and reads grouped by type (apply, diagnostic,
// node) and then by server.
func Canonical(recs []Record) []Record {
	type line struct {
		text string
		rec  Record
	}
	lines := make([]line, len(recs))
	for i, r := range recs {
		lines[i] = line{r.String(), r}
	}
	slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.text, b.text) })
	lines = slices.CompactFunc(lines, func(a, b line) bool { return a.text == b.text })
	out := make([]Record, len(lines))
	for i, l := range lines {
		out[i] = l.rec
	}
	return out
}

// AppendUnique is an edit for Notes.Update that adds recs to a note, each
// line once, in canonical order (see Canonical). It leaves a note that holds
// them all unchanged.
func AppendUnique(recs ...Record) func(old []Record) []Record {
	return func(old []Record) []Record {
		return Canonical(append(slices.Clip(old), recs...))
	}
}

// ReplaceNodes is an edit for Notes.Update that replaces server's node
// records with nodes, keeping every other line (other servers' nodes, apply
// and diagnostic records, unknown types), in canonical order (see
// Canonical). If server's node records are already exactly nodes, the
// note is left unchanged.
func ReplaceNodes(server string, nodes []Record) func(old []Record) []Record {
	return func(old []Record) []Record {
		var kept []Record
		var mine []string
		for _, r := range old {
			if r.Type == TypeNode && r.Get("server") == server {
				mine = append(mine, r.String())
				continue
			}
			kept = append(kept, r)
		}
		want := make([]string, len(nodes))
		for i, r := range nodes {
			want[i] = r.String()
		}
		slices.Sort(mine)
		slices.Sort(want)
		if slices.Equal(slices.Compact(mine), slices.Compact(want)) {
			return old
		}
		return Canonical(append(kept, nodes...))
	}
}

// stageProgress orders the stages of one boot: a node moves forward through
// them, and a final or failed stage ends the boot.
var stageProgress = map[string]int{
	"DHCP": 1, "TFTP": 2, "IPXE": 3, "KERNEL": 4, "IMAGE": 5, "SYSTEM_OVERLAY": 6,
	"RUNTIME_OVERLAY": 7, "NOT_FOUND": 8, "BAD_REQUEST": 8, "DENIED": 8, "INIT_FAILED": 9,
}

// sameSecondNewer reports whether node record a is newer than b when both
// were seen in the same second (seen= has one-second resolution, and a
// node goes through several stages in one second): the later boot wins,
// then the stage further along that boot, then the line that sorts last.
func sameSecondNewer(a, b Record) bool {
	if ba, bb := a.Time("boot"), b.Time("boot"); !ba.Equal(bb) {
		return ba.After(bb)
	}
	if pa, pb := stageProgress[a.Get("stage")], stageProgress[b.Get("stage")]; pa != pb {
		return pa > pb
	}
	return a.String() > b.String()
}
