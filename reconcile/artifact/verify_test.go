package artifact

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/damagetest"
	"github.com/gitboot/gitboot/internal/netnstest"
)

func loggedBuilder(t *testing.T, state string) (*Builder, *netnstest.SyncBuffer) {
	t.Helper()
	var log netnstest.SyncBuffer
	b, err := New(Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return b, &log
}

// TestDamagedArtifactAtStart: an artifact overwritten in place (one byte
// flipped) or truncated is found when a builder starts, logged at ERROR
// and removed; the next build builds it again with the right content.
func TestDamagedArtifactAtStart(t *testing.T) {
	for _, how := range []string{"flipped", "truncated"} {
		t.Run(how, func(t *testing.T) {
			state, tc, r := appliedBuild(t)
			img := r.Nodes["n00000"].Image.Path
			if how == "flipped" {
				time.Sleep(10 * time.Millisecond)               // a new mtime even on coarse clocks
				damagetest.FlipByte(t, img, fileSize(t, img)/2) // zstd images of the test tree are small
			} else if err := os.Truncate(img, fileSize(t, img)/2); err != nil {
				t.Fatal(err)
			}
			b2, log := loggedBuilder(t, state)
			if _, err := os.Stat(img); !os.IsNotExist(err) {
				t.Fatalf("the damaged artifact is still there: %v\n%s", err, log.String())
			}
			if !damagetest.HasLine(log.String(), "level=ERROR", "ARTIFACT DAMAGED", filepath.Base(img)) {
				t.Errorf("no ERROR line names it:\n%s", log.String())
			}
			if _, err := b2.Load(r.Manifest); err == nil {
				t.Error("the applied state loads although one of its artifacts is gone")
			}
			r2 := mustBuild(t, b2, tc.build())
			if !r2.Images["img"].Rebuilt || r2.Nodes["n00000"].Image.Path != img {
				t.Errorf("the image was not rebuilt under its name: rebuilt=%v path %s", r2.Images["img"].Rebuilt, r2.Nodes["n00000"].Image.Path)
			}
			checkStoreIntegrity(t, state)
		})
	}
}

// TestBuildMeetsDamagedName: a running builder whose artifact was
// overwritten in place does not reuse it: the next build writes the right
// content under the name again.
func TestBuildMeetsDamagedName(t *testing.T) {
	state := t.TempDir()
	b, log := loggedBuilder(t, state)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 2)
	r := mustBuild(t, b, tc.build())
	time.Sleep(10 * time.Millisecond)
	sys := r.Nodes["n00001"].System.Path
	damagetest.FlipByte(t, sys, 20)
	damagetest.FlipByte(t, r.Nodes["n00001"].Image.Path, 20)
	r2 := mustBuild(t, b, tc.build())
	if r2.Nodes["n00001"].System.Path != sys || r2.Built == 0 || !r2.Images["img"].Rebuilt {
		t.Errorf("built %d overlays, image rebuilt %v: want the damaged ones built again", r2.Built, r2.Images["img"].Rebuilt)
	}
	if !damagetest.HasLine(log.String(), "level=ERROR", "ARTIFACT DAMAGED", filepath.Base(sys)) {
		t.Errorf("replacing a damaged artifact is not logged:\n%s", log.String())
	}
	checkStoreIntegrity(t, state)
}

// TestVerifyBackground: artifacts never verified (a store written before
// verification was recorded) are checked in the background; a damaged one
// is removed and reported once; the rest are recorded as verified, so the
// next start does not check them again.
func TestVerifyBackground(t *testing.T) {
	state := t.TempDir()
	b := newBuilder(t, state)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 3)
	r := mustBuild(t, b, tc.build())
	if err := b.Commit(r); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(state, "artifacts", VerifiedFile)); err != nil {
		t.Fatal(err)
	}
	img := r.Nodes["n00000"].Image.Path
	damagetest.FlipByte(t, img, 50)
	b2, log := loggedBuilder(t, state)
	if _, err := os.Stat(img); err != nil {
		t.Fatalf("an unverified artifact was removed at start (its check belongs in the background): %v", err)
	}
	calls := 0
	if err := b2.VerifyBackground(context.Background(), func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Fatalf("the damaged artifact is still there after the background check: %v\n%s", err, log.String())
	}
	if calls != 1 || !damagetest.HasLine(log.String(), "level=ERROR", filepath.Base(img)) {
		t.Errorf("onDamage called %d times; log:\n%s", calls, log.String())
	}
	checkStoreIntegrity(t, state)
	// The next start has everything verified: nothing left for the background.
	b3 := newBuilder(t, state)
	if len(b3.unverified) != 0 {
		t.Errorf("after a background check, %d artifacts are still unverified", len(b3.unverified))
	}
}

// TestDamagedManifestRewritten: a build whose manifest exists under its
// name with other content (damaged) writes it again.
func TestDamagedManifestRewritten(t *testing.T) {
	state := t.TempDir()
	b, log := loggedBuilder(t, state)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 2)
	r := mustBuild(t, b, tc.build())
	damagetest.FlipByte(t, r.ManifestPath, 10)
	if _, err := b.Load(r.Manifest); err == nil {
		t.Fatal("a damaged manifest loads")
	}
	r2 := mustBuild(t, b, tc.build())
	if r2.Manifest != r.Manifest {
		t.Fatalf("manifest %s, want %s", r2.Manifest, r.Manifest)
	}
	if _, err := b.Load(r.Manifest); err != nil {
		t.Errorf("the manifest was not written again: %v", err)
	}
	if !damagetest.HasLine(log.String(), "level=ERROR", "MANIFEST DAMAGED") {
		t.Errorf("not logged:\n%s", log.String())
	}
	checkStoreIntegrity(t, state)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCheckOnUse: with Config.CheckOnUse nothing is checked when the
// builder starts; the build checks each artifact it reuses as the start
// would have: a flipped or truncated one is logged, not reused and built
// again under its name; one only rewritten with the same content (a new
// stamp) is hashed, found right and reused.
func TestCheckOnUse(t *testing.T) {
	for _, how := range []string{"flipped", "truncated", "truncated, never verified"} {
		t.Run(how, func(t *testing.T) {
			state, tc, r := appliedBuild(t)
			img, sys := r.Nodes["n00000"].Image.Path, r.Nodes["n00001"].System.Path
			rt := r.Nodes["n00000"].Runtime.Path
			time.Sleep(10 * time.Millisecond) // a new mtime even on coarse clocks
			for _, p := range []string{img, sys} {
				if how == "flipped" {
					damagetest.FlipByte(t, p, fileSize(t, p)/2)
				} else if err := os.Truncate(p, fileSize(t, p)/2); err != nil {
					t.Fatal(err)
				}
			}
			if how == "truncated, never verified" { // only the size the manifest records tells
				if err := os.Remove(filepath.Join(state, "artifacts", VerifiedFile)); err != nil {
					t.Fatal(err)
				}
			}
			same, err := os.ReadFile(rt) // rewritten with its own content: a new inode and mtime
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(rt); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rt, same, 0o644); err != nil {
				t.Fatal(err)
			}
			var log netnstest.SyncBuffer
			b2, err := New(Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&log, nil)), CheckOnUse: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(img); err != nil || log.String() != "" {
				t.Fatalf("checked at start with CheckOnUse: %v\n%s", err, log.String())
			}
			r2 := mustBuild(t, b2, tc.build())
			if !r2.Images["img"].Rebuilt || r2.Nodes["n00000"].Image.Path != img {
				t.Errorf("the damaged image was not rebuilt under its name: rebuilt=%v path %s", r2.Images["img"].Rebuilt, r2.Nodes["n00000"].Image.Path)
			}
			if r2.Nodes["n00001"].System.Path != sys || r2.Built == 0 {
				t.Errorf("the damaged system overlay was not built again: %d built", r2.Built)
			}
			for _, p := range []string{img, sys} {
				if !damagetest.HasLine(log.String(), "level=ERROR", "ARTIFACT DAMAGED", filepath.Base(p)) {
					t.Errorf("no ERROR line names %s:\n%s", filepath.Base(p), log.String())
				}
			}
			if damagetest.HasLine(log.String(), filepath.Base(rt)) {
				t.Errorf("the runtime overlay rewritten with its own content was reported:\n%s", log.String())
			}
			if r2.Nodes["n00000"].Runtime.Path != rt {
				t.Errorf("runtime overlay %s, want %s reused", r2.Nodes["n00000"].Runtime.Path, rt)
			}
			checkStoreIntegrity(t, state)
		})
	}
}

// appliedBuild builds and commits the two-node test cluster in a new state
// directory: the applied build a later builder starts from.
func appliedBuild(t *testing.T) (state string, tc *testCluster, r *Result) {
	t.Helper()
	state = t.TempDir()
	b := newBuilder(t, state)
	tc = overlayCluster(t, []string{"nodedep"}, nil, 2)
	r = mustBuild(t, b, tc.build())
	if err := b.Commit(r); err != nil {
		t.Fatal(err)
	}
	return state, tc, r
}
