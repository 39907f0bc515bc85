package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/statefile"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var t0 = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRecordStagesAndErrors(t *testing.T) {
	c := &clock{t: t0}
	s, err := Open(Config{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ip := addr("10.99.0.11")
	s.Record(Event{Node: "c001", MAC: "52:54:00:00:00:01", Stage: StageIPXE, Addr: ip})
	s.Record(Event{Node: "c001", Stage: StageKernel, Sent: "vmlinuz", Addr: ip, Time: t0.Add(time.Second)})
	r, ok := s.Node("c001")
	if !ok || r.Stage != StageKernel || r.Sent != "vmlinuz" || r.MAC != "52:54:00:00:00:01" || r.Addr != ip || !r.LastSeen.Equal(t0.Add(time.Second)) {
		t.Fatalf("after KERNEL: %+v", r)
	}

	// An error keeps the last good stage and LastSeen, and is shown.
	s.Record(Event{Node: "c001", Stage: StageDenied, Sent: "runtime.img.gz", Addr: addr("10.99.0.66"), Time: t0.Add(5 * time.Second)})
	r, _ = s.Node("c001")
	if r.Stage != StageKernel || !r.LastSeen.Equal(t0.Add(time.Second)) || r.Error == nil || r.Error.Stage != StageDenied || r.Error.Addr != addr("10.99.0.66") {
		t.Fatalf("after DENIED: %+v %+v", r, r.Error)
	}
	if got := s.StageCounts(); got[StageDenied] != 1 || got[StageKernel] != 0 {
		t.Fatalf("counts with a pending error: %v", got)
	}
	// The next good event clears it.
	s.Record(Event{Node: "c001", Stage: StageImage, Sent: "image.img.gz", Addr: ip, Time: t0.Add(6 * time.Second)})
	r, _ = s.Node("c001")
	if r.Stage != StageImage || r.Error != nil {
		t.Fatalf("after IMAGE: %+v", r)
	}
	if got := s.StageCounts(); got[StageImage] != 1 || len(got) != 1 {
		t.Fatalf("counts: %v", got)
	}
	if _, ok := s.Node("c002"); ok {
		t.Fatal("c002 never recorded but found")
	}
}

func TestUnknownMACsAreCapped(t *testing.T) {
	c := &clock{t: t0}
	s, _ := Open(Config{Now: c.now, MaxUnknown: 3})
	for i := 1; i <= 5; i++ {
		s.Record(Event{MAC: fmt.Sprintf("52:54:00:00:01:%02x", i), Stage: StageIPXE, Addr: addr("10.99.0.200"), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	// Seeing 03 again makes it the most recent: 04 goes next.
	s.Record(Event{MAC: "52:54:00:00:01:03", Stage: StageDHCP, Time: t0.Add(10 * time.Second)})
	s.Record(Event{MAC: "52:54:00:00:01:06", Stage: StageIPXE, Time: t0.Add(11 * time.Second)})
	var got []string
	for _, u := range s.Unknowns() {
		got = append(got, u.MAC[len(u.MAC)-2:])
	}
	if want := "06 03 05"; strings.Join(got, " ") != want {
		t.Fatalf("unknown MACs, most recent first: %v, want %s", got, want)
	}
	u := s.Unknowns()[1]
	if u.Count != 2 || u.Stage != StageDHCP || !u.FirstSeen.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("03: %+v", u)
	}
	// An error for an unknown MAC is not a discovery.
	s.Record(Event{MAC: "52:54:00:00:01:99", Stage: StageNotFound, Sent: "image"})
	if len(s.Unknowns()) != 3 || len(s.Errors()) != 1 || s.Errors()[0].MAC != "52:54:00:00:01:99" {
		t.Fatalf("unknowns %v errors %v", s.Unknowns(), s.Errors())
	}
}

func TestErrorsRing(t *testing.T) {
	s, _ := Open(Config{MaxErrors: 4})
	for i := 0; i < 10; i++ {
		s.Record(Event{Stage: StageBadRequest, Sent: fmt.Sprint(i)})
	}
	var got []string
	for _, f := range s.Errors() {
		got = append(got, f.Sent)
	}
	if strings.Join(got, ",") != "6,7,8,9" {
		t.Fatalf("errors, oldest first: %v", got)
	}
}

func TestRowsForDeclaredNames(t *testing.T) {
	s := NewMemory()
	s.Record(Event{Node: "c002", Stage: StageIPXE, Time: t0})
	s.Record(Event{Node: "gone", Stage: StageIPXE, Time: t0})
	rows := s.Rows([]string{"c003", "c002", "c001"})
	if len(rows) != 3 || rows[0].Name != "c001" || rows[1].Name != "c002" || rows[2].Name != "c003" {
		t.Fatalf("rows: %+v", rows)
	}
	if rows[0].Stage != "" || rows[1].Stage != StageIPXE {
		t.Fatalf("rows: %+v", rows)
	}
}

func TestPersistAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	s, err := Open(Config{Dir: dir, Now: c.now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Record(Event{Node: "c001", MAC: "52:54:00:00:00:01", Stage: StageRuntimeOverlay, Sent: "runtime.img.gz", Addr: addr("10.99.0.11")})
	s.Record(Event{Node: "c002", Stage: StageKernel, Sent: "vmlinuz"})
	s.Record(Event{Node: "c002", Stage: StageNotFound, Sent: "image.img.gz"})
	s.Record(Event{MAC: "52:54:00:aa:bb:cc", Stage: StageIPXE, Addr: addr("10.99.0.201")})
	s.Record(Event{Stage: StageBadRequest, Sent: "/image/../../etc/passwd"})
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err == nil {
		t.Fatal("state file written before the flush interval or Close")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != StateFile {
		t.Fatalf("state dir holds %v, want only %s (no temp files)", entries, StateFile)
	}

	s2, err := Open(Config{Dir: dir, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	r, ok := s2.Node("c001")
	if !ok || r.Stage != StageRuntimeOverlay || r.Sent != "runtime.img.gz" || r.Addr != addr("10.99.0.11") || !r.LastSeen.Equal(t0) {
		t.Fatalf("c001 after reopen: %+v", r)
	}
	r, _ = s2.Node("c002")
	if r.Stage != StageKernel || r.Error == nil || r.Error.Stage != StageNotFound {
		t.Fatalf("c002 after reopen: %+v", r)
	}
	if u := s2.Unknowns(); len(u) != 1 || u[0].MAC != "52:54:00:aa:bb:cc" || u[0].Addr != addr("10.99.0.201") {
		t.Fatalf("unknown after reopen: %+v", u)
	}
	if e := s2.Errors(); len(e) != 1 || e[0].Sent != "/image/../../etc/passwd" {
		t.Fatalf("errors after reopen: %+v", e)
	}
	if got := s2.StageCounts(); got[StageRuntimeOverlay] != 1 || got[StageNotFound] != 1 {
		t.Fatalf("counts after reopen: %v", got)
	}
}

func TestFlushWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Config{Dir: dir, FlushInterval: time.Hour})
	defer s.Close()
	name := filepath.Join(dir, StateFile)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); err == nil {
		t.Fatal("flush of an unchanged empty store wrote a file")
	}
	s.Record(Event{Node: "c001", Stage: StageDHCP})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fi1, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	os.Chtimes(name, t0, t0)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(name)
	if !fi2.ModTime().Equal(t0) || fi1.Size() != fi2.Size() {
		t.Fatal("unchanged store rewritten")
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o600)
	var ce *statefile.CorruptError
	if _, err := Open(Config{Dir: dir}); !errors.As(err, &ce) || !strings.Contains(err.Error(), StateFile) {
		t.Fatalf("Open on a corrupt file: %v (want a *statefile.CorruptError, which serve moves aside)", err)
	}
}

func TestConcurrentRecord(t *testing.T) {
	s, _ := Open(Config{Dir: t.TempDir(), FlushInterval: time.Millisecond, MaxUnknown: 50})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				s.Record(Event{Node: fmt.Sprintf("n%03d", i%100), Stage: StageImage})
				s.Record(Event{MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", g, i%200), Stage: StageIPXE})
				if i%500 == 0 {
					s.Report("head", "", time.Minute, []string{"n001"})
				}
			}
		}(g)
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Unknowns()); n != 50 {
		t.Fatalf("%d unknown MACs kept, cap 50", n)
	}
	if got := s.StageCounts()[StageImage]; got != 100 {
		t.Fatalf("%d nodes at IMAGE, want 100", got)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	s := NewMemory()
	s.Record(Event{Node: "c001", Stage: StageIPXE, Addr: addr("10.99.0.11"), Time: t0})
	rep := s.Report("head", "abc", time.Minute, []string{"c001", "c002"})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Nodes) != 2 || back.Nodes[0].Addr != addr("10.99.0.11") || back.IntervalSeconds != 60 || back.Server != "head" {
		t.Fatalf("round trip: %s", b)
	}
	if bytes.Contains(b, []byte(`"last_seen":"0001`)) {
		t.Fatalf("never-seen node has a zero time in JSON: %s", b)
	}
}

// TestBackgroundFlush: without Close, the background writer persists a
// change (within its interval; the deadline here is only a guard).
func TestBackgroundFlush(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Config{Dir: dir, FlushInterval: 20 * time.Millisecond})
	defer s.Close()
	s.Record(Event{Node: "c001", Stage: StageTFTP, Sent: "undionly.kpxe"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, StateFile))
		if err == nil && bytes.Contains(b, []byte(`"undionly.kpxe"`)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state file never written: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFlushWarningUsesConfiguredLogger: a background write of status.json
// that fails (here: a directory stands where the file is renamed to, as a
// full disk fails it) is reported through Config.Logger, in its format,
// not through the default logger.
func TestFlushWarningUsesConfiguredLogger(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	s, err := Open(Config{Dir: dir, FlushInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(w, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.MkdirAll(filepath.Join(dir, StateFile, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.Record(Event{Node: "c001", MAC: "52:54:00:00:00:01", Stage: StageIPXE, Addr: addr("10.99.0.11")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if line, _, ok := strings.Cut(out, "\n"); ok {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("warning is not a JSON log line: %q", line)
			}
			if rec["msg"] != "status: persisting" || rec["level"] != "WARN" || rec["err"] == nil {
				t.Fatalf("unexpected log line: %q", line)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no warning logged through Config.Logger for a failing flush")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A state file of more nodes than Flush copies at a time holds every
// record, sorted by name, each as the store had it: the batches join
// into one JSON document that reopens to the same rows; the copy Flush
// makes is one batch, not the whole store.
func TestFlushInBatches(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Config{Dir: dir, FlushInterval: time.Hour})
	defer s.Close()
	n := 2*flushBatch + 37
	var names []string
	for i := n - 1; i >= 0; i-- { // recorded in reverse: the file sorts them
		name := fmt.Sprintf("n%04d", i)
		names = append(names, name)
		s.Record(Event{Node: name, MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff), Stage: StageDHCP, Time: t0})
		s.Record(Event{Node: name, Stage: StageKernel, Sent: "/kernel", Digest: "sha256:01", Time: t0.Add(time.Second)})
	}
	var largest int
	w := stateWriter{nodes: func(dst []diskRecord, batch []string) []diskRecord {
		largest = max(largest, len(batch))
		return s.copyNodes(dst, batch)
	}}
	w.doc = &stateDoc{Version: stateVersion}
	for name := range s.nodes {
		w.names = append(w.names, name)
	}
	slices.Sort(w.names)
	var buf bytes.Buffer
	if err := w.write(&buf); err != nil || largest != flushBatch {
		t.Fatalf("write: %v; largest copy %d records, want %d", err, largest, flushBatch)
	}
	var doc stateDoc
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || len(doc.Nodes) != n {
		t.Fatalf("the file: %v, %d nodes, want %d", err, len(doc.Nodes), n)
	}
	for i := range doc.Nodes {
		if want := fmt.Sprintf("n%04d", i); doc.Nodes[i].Name != want {
			t.Fatalf("node %d in the file is %s, want %s", i, doc.Nodes[i].Name, want)
		}
	}

	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, want := s2.Rows(names), s.Rows(names); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened rows differ: %d vs %d", len(got), len(want))
	}
}
