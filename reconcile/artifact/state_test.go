package artifact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storeFiles lists the store's artifact files.
func storeFiles(t testing.TB, state string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, d := range []string{"sha256", "manifests"} {
		ents, err := os.ReadDir(filepath.Join(state, "artifacts", d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			out[d+"/"+e.Name()] = true
		}
	}
	return out
}

// checkStoreIntegrity verifies that every file under a final name holds
// the content its name says: no partly written file is ever visible.
func checkStoreIntegrity(t testing.TB, state string) {
	t.Helper()
	for name := range storeFiles(t, state) {
		base := filepath.Base(name)
		if strings.HasPrefix(base, tmpPrefix) {
			continue
		}
		hexName := strings.SplitN(base, ".", 2)[0]
		if got := fileSHA(t, filepath.Join(state, "artifacts", name)); got != "sha256:"+hexName {
			t.Errorf("%s holds content %s", name, got)
		}
	}
}

// clock is a settable clock for Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)} }

func newBuilderAt(t testing.TB, state string, c *clock) *Builder {
	t.Helper()
	b, err := New(Config{StateDir: state, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resultFiles lists every artifact file of r.
func resultFiles(r *Result) []string {
	var out []string
	for _, a := range r.Nodes {
		out = append(out, a.Kernel.Path, a.Image.Path, a.System.Path, a.Runtime.Path)
	}
	return append(out, r.ManifestPath)
}

func TestCommitAndGC(t *testing.T) {
	state := t.TempDir()
	clk := newClock()
	b := newBuilderAt(t, state, clk)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 3)
	var results []*Result
	for i := 0; i < 3; i++ {
		tc.nodes[0].Name = fmt.Sprintf("gen%d", i) // changes n's system overlay
		r := mustBuild(t, b, tc.build())
		if err := b.Commit(r); err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	clk.advance(DefaultGrace) // gen0 was replaced DefaultGrace ago: out of its grace
	removed, freed, err := b.GC()
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 || freed == 0 { // gen0's system overlay and the first manifest
		t.Errorf("gc removed %d files (%d bytes), want 2", removed, freed)
	}
	if _, err := os.Stat(results[0].Nodes["gen0"].System.Path); err == nil {
		t.Error("gc kept an artifact only the oldest state used")
	}
	for _, r := range results[1:] {
		for _, a := range r.Nodes {
			for _, x := range []string{a.Kernel.Path, a.Image.Path, a.System.Path, a.Runtime.Path} {
				if _, err := os.Stat(x); err != nil {
					t.Errorf("gc removed an artifact of the current or previous state: %v", err)
				}
			}
		}
	}
	// A restarted builder sees the current state and reuses its artifacts.
	b2 := newBuilder(t, state)
	cur, err := b2.Current()
	if err != nil || cur.Manifest != results[2].Manifest || cur.Nodes["gen2"].System != results[2].Nodes["gen2"].System || cur.Nodes["gen2"].Kernel != results[2].Nodes["gen2"].Kernel {
		t.Fatalf("current after restart: %v", err)
	}
	r := mustBuild(t, b2, tc.build())
	if r.Built != 0 || r.Images["img"].Rebuilt {
		t.Errorf("after restart: built %d, image rebuilt %v", r.Built, r.Images["img"].Rebuilt)
	}
	checkStoreIntegrity(t, state)

	// A damaged manifest does not stop a restart; Current reports it and
	// the next build rebuilds.
	cur2, _ := b2.Current()
	if err := os.WriteFile(cur2.ManifestPath, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	b3 := newBuilder(t, state)
	if _, err := b3.Current(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Current with a damaged manifest: %v", err)
	}
	mustBuild(t, b3, tc.build())
}

// TestGCKeepsGrace applies three builds a minute apart, collecting after
// each: a node that got its iPXE script from any of them may still be
// fetching its files, so all three stay until their grace period ends;
// after it, only the current and the previous state are kept.
func TestGCKeepsGrace(t *testing.T) {
	state := t.TempDir()
	clk := newClock()
	b := newBuilderAt(t, state, clk)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 3)
	var results []*Result
	for i := 0; i < 3; i++ {
		if i > 0 {
			clk.advance(time.Minute)
		}
		if i == 2 {
			b = newBuilderAt(t, state, clk) // the grace survives a restart
		}
		tc.nodes[0].Name = fmt.Sprintf("gen%d", i) // changes its system overlay
		r := mustBuild(t, b, tc.build())
		if err := b.Commit(r); err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
		if removed, _, err := b.GC(); err != nil || removed != 0 {
			t.Fatalf("round %d: gc removed %d files, err %v; want none within the grace", i, removed, err)
		}
		for _, r := range results {
			for _, p := range resultFiles(r) {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("round %d: %v", i, err)
				}
			}
		}
	}
	a, err := b.readApplied()
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != appliedVersion || len(a.Retired) != 2 || a.Retired[0].Manifest != a.Previous {
		t.Errorf("applied state %+v", a)
	}

	// gen0 was replaced at +1m: its grace ends at +11m. gen1, the
	// previous state, is kept whatever its age.
	clk.advance(9*time.Minute - time.Second) // +10m59s
	if removed, _, err := b.GC(); err != nil || removed != 0 {
		t.Fatalf("gc one second before the grace ends: removed %d, err %v", removed, err)
	}
	clk.advance(time.Second)
	removed, _, err := b.GC()
	if err != nil || removed != 2 { // gen0's system overlay and its manifest
		t.Fatalf("gc after the grace: removed %d, err %v; want 2", removed, err)
	}
	if _, err := os.Stat(results[0].Nodes["gen0"].System.Path); err == nil {
		t.Error("gc kept an artifact past its grace")
	}
	for _, r := range results[1:] {
		for _, p := range resultFiles(r) {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("after the grace: %v", err)
			}
		}
	}
	// The next commit drops what is past its grace from applied.json.
	clk.advance(time.Hour)
	if err := b.Commit(results[0]); err == nil {
		t.Error("commit of a collected manifest succeeded")
	}
	if err := b.Commit(results[1]); err != nil { // a rollback
		t.Fatal(err)
	}
	a, _ = b.readApplied()
	if a.Current != strings.TrimPrefix(results[1].Manifest, "sha256:") || a.Previous != strings.TrimPrefix(results[2].Manifest, "sha256:") ||
		len(a.Retired) != 1 || a.Retired[0].Manifest != a.Previous || !a.Retired[0].Replaced.Equal(clk.now()) {
		t.Errorf("after a rollback: %+v", a)
	}
	checkStoreIntegrity(t, state)
}

// TestGCGraceNegative: a negative Grace keeps only the current and the
// previous state.
func TestGCGraceNegative(t *testing.T) {
	state := t.TempDir()
	b, err := New(Config{StateDir: state, Grace: -1})
	if err != nil {
		t.Fatal(err)
	}
	tc := overlayCluster(t, []string{"nodedep"}, nil, 2)
	for i := 0; i < 3; i++ {
		tc.nodes[0].Name = fmt.Sprintf("gen%d", i)
		if err := b.Commit(mustBuild(t, b, tc.build())); err != nil {
			t.Fatal(err)
		}
	}
	if removed, _, err := b.GC(); err != nil || removed != 2 {
		t.Errorf("gc removed %d, err %v; want 2", removed, err)
	}
}

// TestAppliedBounded: however many applies happen within the grace,
// applied.json keeps at most maxRetired replaced manifests, newest first.
func TestAppliedBounded(t *testing.T) {
	state := t.TempDir()
	clk := newClock()
	b := newBuilderAt(t, state, clk)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 1)
	var manifests []string
	for i := 0; i < maxRetired+4; i++ {
		clk.advance(time.Second)
		tc.nodes[0].Name = fmt.Sprintf("gen%d", i)
		r := mustBuild(t, b, tc.build())
		if err := b.Commit(r); err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, strings.TrimPrefix(r.Manifest, "sha256:"))
	}
	a, err := b.readApplied()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Retired) != maxRetired {
		t.Fatalf("%d retired entries, want %d", len(a.Retired), maxRetired)
	}
	for i, r := range a.Retired {
		if want := manifests[len(manifests)-2-i]; r.Manifest != want {
			t.Errorf("retired[%d] = %s, want %s", i, r.Manifest, want)
		}
	}
	if _, _, err := b.GC(); err != nil {
		t.Fatal(err)
	}
	if n := len(storeFiles(t, state)); n == 0 {
		t.Fatal("empty store")
	}
	for i, h := range manifests {
		_, err := os.Stat(b.manifestPath(h))
		if kept := i >= len(manifests)-1-maxRetired; kept != (err == nil) {
			t.Errorf("manifest %d: kept %v, stat %v", i, kept, err)
		}
	}
}

// TestAppliedFormat: applied.json is written atomically (no temporary is
// left, the mode is exact) as versioned JSON; a version 1 file (no version,
// no retired list) is still read, a newer version is refused.
func TestAppliedFormat(t *testing.T) {
	state := t.TempDir()
	clk := newClock()
	b := newBuilderAt(t, state, clk)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 1)
	var hexes []string
	for i := 0; i < 2; i++ {
		tc.nodes[0].Name = fmt.Sprintf("gen%d", i)
		r := mustBuild(t, b, tc.build())
		if err := b.Commit(r); err != nil {
			t.Fatal(err)
		}
		hexes = append(hexes, strings.TrimPrefix(r.Manifest, "sha256:"))
	}
	p := filepath.Join(state, "artifacts", "applied.json")
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("applied.json: %v %v", info, err)
	}
	ents, _ := os.ReadDir(filepath.Join(state, "artifacts"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary %s left", e.Name())
		}
	}
	data, _ := os.ReadFile(p)
	want := fmt.Sprintf(`{"version":2,"current":"%s","previous":"%s","retired":[{"manifest":"%s","replaced":"2026-11-25T15:00:00Z"}]}`, hexes[1], hexes[0], hexes[0])
	if string(data) != want {
		t.Errorf("applied.json:\n%s\nwant\n%s", data, want)
	}

	// Version 1: read, and the next commit starts the retired list.
	write(t, p, fmt.Sprintf(`{"current":"%s","previous":"%s"}`, hexes[1], hexes[0]), 0o600)
	b = newBuilderAt(t, state, clk)
	if cur, err := b.Current(); err != nil || cur.Manifest != "sha256:"+hexes[1] {
		t.Fatalf("current from a version 1 file: %v", err)
	}
	if removed, _, err := b.GC(); err != nil || removed != 0 {
		t.Errorf("gc with a version 1 file: removed %d, err %v", removed, err)
	}
	tc.nodes[0].Name = "gen2"
	if err := b.Commit(mustBuild(t, b, tc.build())); err != nil {
		t.Fatal(err)
	}
	a, err := b.readApplied()
	if err != nil || a.Version != appliedVersion || a.Previous != hexes[1] || len(a.Retired) != 1 || a.Retired[0].Manifest != hexes[1] {
		t.Errorf("after a commit over a version 1 file: %+v %v", a, err)
	}

	write(t, p, `{"version":3,"current":"ab"}`, 0o600)
	if _, err := New(Config{StateDir: state}); err == nil || !strings.Contains(err.Error(), "newer gitboot") {
		t.Errorf("version 3: %v", err)
	}
}

func TestLeftoverTempsCleaned(t *testing.T) {
	state := t.TempDir()
	newBuilder(t, state)
	for _, p := range []string{"artifacts/sha256/.tmp-123", "artifacts/manifests/.tmp-9", "artifacts/.tmp-applied"} {
		write(t, filepath.Join(state, p), "partial", 0o644)
	}
	newBuilder(t, state)
	for name := range storeFiles(t, state) {
		if strings.Contains(name, tmpPrefix) {
			t.Errorf("leftover %s not removed", name)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "artifacts/.tmp-applied")); err == nil {
		t.Error("leftover temp in artifacts/ not removed")
	}
}

// The hand-written manifest encoder must match encoding/json exactly.
func TestManifestEncoding(t *testing.T) {
	m := &Manifest{Version: 1, Cluster: "abc", Server: "head",
		Images: map[string]imageRecord{"i": {Input: "x", Image: ref{"ff", 9}}},
		Nodes:  map[string]nodeRecord{"b\"<é\n": {Image: "i", System: ref{"aa", 3}, SystemInput: "k1"}, "a": {Image: "i", Runtime: ref{"bb", 1 << 40}}}}
	got, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(m)
	if !bytes.Equal(got, want) {
		t.Fatalf("encode:\n%s\nencoding/json:\n%s", got, want)
	}
}
