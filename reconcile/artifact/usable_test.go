package artifact

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/damagetest"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestUsableEach: the reuse check of many artifacts at once, spread over
// goroutines, answers for each name what checking them one by one in
// order answers: a damaged artifact (rewritten since it was verified, with
// other content) is false, logged once and removed, and false again where
// the name repeats; an intact one is true at every repeat; "" and a name
// not in the store are false. 1,500 artifacts: enough for several
// goroutines.
func TestUsableEach(t *testing.T) {
	state := t.TempDir()
	b := newBuilder(t, state)
	bt := b.store.newBatch(extImage)
	var names []string
	for i := range 1500 {
		r, err := bt.Put(fmt.Appendf(nil, "artifact %d", i))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, r.Hex+extImage)
	}
	if err := bt.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := b.store.saveVerified(); err != nil {
		t.Fatal(err)
	}
	damaged := map[string]bool{}
	time.Sleep(10 * time.Millisecond) // a new mtime even on coarse clocks
	for i := 7; i < len(names); i += 97 {
		damagetest.FlipByte(t, b.store.path(names[i]), 3)
		damaged[names[i]] = true
	}

	var log netnstest.SyncBuffer
	b2, err := New(Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&log, nil)), CheckOnUse: true})
	if err != nil {
		t.Fatal(err)
	}
	// Every name once, then every third again, with gaps and a stranger.
	query := append([]string{"", strings.Repeat("0", 64) + extImage}, names...)
	for i := 0; i < len(names); i += 3 {
		query = append(query, names[i], "")
	}
	got := b2.store.usableEach(query, 4)
	if len(got) != len(query) {
		t.Fatalf("%d answers for %d names", len(got), len(query))
	}
	for i, name := range query {
		want := name != "" && !strings.HasPrefix(name, "0000") && !damaged[name]
		if got[i] != want {
			t.Errorf("name %d (%q): usable %v, want %v", i, name, got[i], want)
		}
	}
	for name := range damaged {
		if n := strings.Count(log.String(), name); n != 1 {
			t.Errorf("damaged %s named %d times in the log, want once:\n%s", name, n, log.String())
		}
		if _, err := os.Stat(b2.store.path(name)); !os.IsNotExist(err) {
			t.Errorf("damaged %s not removed: %v", name, err)
		}
	}
	if strings.Count(log.String(), "ARTIFACT DAMAGED") != len(damaged) {
		t.Errorf("want %d damaged artifacts logged:\n%s", len(damaged), log.String())
	}
}

// TestNewReadsKeptManifests: a builder starts knowing the artifacts of
// both kept manifests (read side by side), so a build of either state
// reuses every overlay; a corrupt previous manifest is logged once and
// only its own artifacts are forgotten (built again), the current one's
// still reused.
func TestNewReadsKeptManifests(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprint("corrupt previous ", corrupt), func(t *testing.T) {
			state, tc, r1 := appliedBuild(t)
			b := newBuilder(t, state)
			tc.nodes[0].KernelArgs = []string{"debug"} // n00000's nodedep overlay changes
			r2 := mustBuild(t, b, tc.build())
			if r2.Built == 0 {
				t.Fatal("the changed node built nothing")
			}
			if err := b.Commit(r2); err != nil {
				t.Fatal(err)
			}
			if corrupt {
				damagetest.FlipByte(t, r1.ManifestPath, 10)
			}
			var log netnstest.SyncBuffer
			b2, err := New(Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&log, nil)), CheckOnUse: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(log.String(), "applied manifest unreadable"); corrupt != (got == 1) || got > 1 {
				t.Errorf("%d warnings of an unreadable manifest:\n%s", got, log.String())
			}
			if r := mustBuild(t, b2, tc.build()); r.Built != 0 {
				t.Errorf("the current state built %d overlays again, want all reused", r.Built)
			}
			tc.nodes[0].KernelArgs = []string{"quiet", "console=ttyS0"}
			if r := mustBuild(t, b2, tc.build()); corrupt != (r.Built > 0) {
				t.Errorf("the previous state (manifest corrupt: %v) built %d overlays", corrupt, r.Built)
			}
		})
	}
}
