package reconcile

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An idle recheck (same tip, image sources not written) loads nothing,
// logs nothing and, with auto_apply = false, does not write the pending
// plan again; a written image source is noticed by the next recheck.
func TestIdleRecheckDoesNothing(t *testing.T) {
	for _, manual := range []bool{false, true} {
		t.Run(map[bool]string{false: "auto_apply", true: "auto_apply=false"}[manual], func(t *testing.T) {
			e := newRecEnv(t)
			var logs bytes.Buffer
			e.rec.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			files := baseFiles()
			want := ResultApplied
			if manual {
				files = edit(t, files, "main.hcl", `address = "10.99.0.1"`, "address    = \"10.99.0.1\"\n  auto_apply = false")
				want = ResultPlanned
			}
			e.repo.commit(files, "first")
			if ev, err := e.once(Options{Recheck: true}); err != nil || ev.Result != want {
				t.Fatalf("first pass: %q %v", ev.Result, err)
			}
			pending := filepath.Join(e.state, PendingPlanFile)
			var mtime time.Time
			if manual {
				st, err := os.Stat(pending)
				if err != nil {
					t.Fatal(err)
				}
				mtime = st.ModTime()
				time.Sleep(20 * time.Millisecond) // a rewrite would show a later mtime
			}
			loads := e.rec.loads.Load()
			logs.Reset()
			for i := 0; i < 10; i++ {
				if ev, err := e.once(Options{Recheck: true}); err != nil || ev.Result != ResultUnchanged {
					t.Fatalf("idle pass %d: %q %v", i, ev.Result, err)
				}
			}
			if n := e.rec.loads.Load() - loads; n != 0 {
				t.Errorf("10 idle rechecks loaded the commit %d times", n)
			}
			if logs.Len() != 0 {
				t.Errorf("idle rechecks logged:\n%s", logs.String())
			}
			if manual {
				st, err := os.Stat(pending)
				if err != nil || !st.ModTime().Equal(mtime) {
					t.Errorf("idle rechecks wrote the pending plan again: %v, mtime %v -> %v", err, mtime, st.ModTime())
				}
			}
			// The image's kernel is rewritten: the next recheck evaluates.
			writeFile(t, filepath.Join(e.image, "boot/vmlinuz-1"), "a rebuilt kernel\n")
			ev, err := e.once(Options{Recheck: true})
			if err != nil || e.rec.loads.Load() != loads+1 || ev.Result != want {
				t.Errorf("recheck after an image change: %q %v, %d loads", ev.Result, err, e.rec.loads.Load()-loads)
			}
			// A new commit is evaluated, idle or not.
			e.repo.commit(edit(t, files, "main.hcl", `"10.99.0.12"`, `"10.99.0.13"`), "second")
			if _, err := e.once(Options{Recheck: true}); err != nil || e.rec.loads.Load() != loads+2 {
				t.Errorf("a new commit: %v, %d loads", err, e.rec.loads.Load()-loads)
			}
		})
	}
}

// Idle passes check the served build only every incompleteCheckEvery: an
// artifact removed behind the server's back is built again then.
func TestIdleChecksTheBuildNowAndThen(t *testing.T) {
	e := newRecEnv(t)
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	e.rec.cfg.Now = func() time.Time { return now }
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	arts := e.artifacts()
	if len(arts) == 0 {
		t.Fatal("no artifacts")
	}
	for _, a := range arts {
		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
	}
	if ev, err := e.once(Options{Recheck: true}); err != nil || ev.Result != ResultUnchanged || len(e.published) != 1 {
		t.Fatalf("idle pass: %q %v, %d published", ev.Result, err, len(e.published))
	}
	now = now.Add(incompleteCheckEvery)
	if ev, err := e.once(Options{Recheck: true}); err != nil || ev.Result != ResultApplied || len(e.published) != 2 {
		t.Fatalf("pass after %v: %q %v, %d published; want the build made again", incompleteCheckEvery, ev.Result, err, len(e.published))
	}
	if len(e.artifacts()) == 0 {
		t.Error("the artifacts were not built again")
	}
}
