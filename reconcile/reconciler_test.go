package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// recEnv is a reconciler on a real git repository (made with the git
// command), a directory image and a state directory, all in t.TempDir().
type recEnv struct {
	t          *testing.T
	repo       *testRepo
	image      string
	state      string
	vars       map[string]string
	published  []*bootsvc.Snapshot
	publishErr error
	evals      []Evaluation
	rec        *Reconciler
}

func newRecEnv(t *testing.T) *recEnv {
	e := &recEnv{t: t, repo: newTestRepo(t), state: t.TempDir()}
	e.image = makeImage(t, filepath.Join(t.TempDir(), "rocky"))
	e.vars = map[string]string{"image": e.image}
	e.rec = e.newReconciler()
	return e
}

// newReconciler makes a Reconciler (and Builder) on e's state directory,
// as a restarted server would.
func (e *recEnv) newReconciler() *Reconciler {
	b, err := artifact.New(artifact.Config{StateDir: e.state})
	if err != nil {
		e.t.Fatal(err)
	}
	return New(Config{
		Source: e.repo.source(), Vars: e.vars, Builder: b, StateDir: e.state,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Publish: func(s *bootsvc.Snapshot) error {
			if e.publishErr != nil {
				return e.publishErr
			}
			e.published = append(e.published, s)
			return nil
		},
		OnEvaluated: func(ev Evaluation) { e.evals = append(e.evals, ev) },
	})
}

func (e *recEnv) once(opt Options) (Evaluation, error) {
	e.t.Helper()
	return e.rec.ReconcileOnce(context.Background(), opt)
}

// mustApply runs a pass that must apply commit.
func (e *recEnv) mustApply(commit string) Evaluation {
	e.t.Helper()
	ev, err := e.once(Options{})
	if err != nil || ev.Result != ResultApplied || ev.Commit.Hash != commit {
		e.t.Fatalf("pass: result %q, commit %v, err %v; want %s applied", ev.Result, ev.Commit, err, commit)
	}
	return ev
}

// inventory reads the recorded inventory file.
func (e *recEnv) inventory() ([]byte, *Inventory) {
	e.t.Helper()
	inv, data, err := ReadInventory(e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	return data, inv
}

// artifacts lists the files in the artifact store.
func (e *recEnv) artifacts() []string {
	e.t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(e.state, "artifacts"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func node(s *bootsvc.Snapshot, name string) bootsvc.Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return bootsvc.Node{}
}

// The first commit is applied: built, published, recorded; a new
// Reconciler on the same state directory restores an equal snapshot
// before resolving anything.
func TestReconcileFirstCommitAppliesAndRestores(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(baseFiles(), "first")
	ev := e.mustApply(c1)
	if ev.Plan == nil || ev.Plan.Summary.Add != 9 || len(e.published) != 1 || len(e.evals) != 1 {
		t.Fatalf("plan %+v, %d published, %d evaluations", ev.Plan, len(e.published), len(e.evals))
	}
	data, inv := e.inventory()
	if inv == nil || inv.Commit != c1 || inv.Manifest == "" || inv.AppliedAt.IsZero() || len(inv.Nodes) != 2 {
		t.Fatalf("recorded inventory: %+v", inv)
	}
	if a := inv.Nodes["c001"].Artifacts; a == nil || a.Kernel == "" || a.Image == "" || a.System == "" || a.Runtime == "" {
		t.Errorf("c001 artifacts not recorded: %+v", a)
	}
	if _, running := e.rec.Running(); !bytes.Equal(running, data) {
		t.Error("the running inventory in memory is not the one recorded")
	}

	r2 := e.newReconciler()
	snap, err := r2.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap, e.published[0]) {
		t.Errorf("restored snapshot differs from the published one:\n%+v\n%+v", snap, e.published[0])
	}
	if _, restored := r2.Running(); !bytes.Equal(restored, data) {
		t.Error("the restored running inventory differs from the file")
	}
	// The restored reconciler knows the commit is served: nothing to do.
	e.rec = r2
	if ev, err := e.once(Options{}); err != nil || ev.Result != ResultUnchanged || len(e.published) != 1 {
		t.Errorf("pass after restore: %q %v, %d published", ev.Result, err, len(e.published))
	}
}

// An overlay-only commit is applied: the runtime overlay artifact
// changes, the system one does not, and no node needs a reboot.
func TestReconcileOverlayOnlyCommit(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	c2 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "maintenance tonight\n"), "motd")
	ev := e.mustApply(c2)
	if len(ev.Plan.NeedsReboot) != 0 {
		t.Errorf("a runtime overlay change needs a reboot of %v", ev.Plan.NeedsReboot)
	}
	before, after := node(e.published[0], "c001").Artifacts, node(e.published[1], "c001").Artifacts
	if before.Runtime.Digest == after.Runtime.Digest {
		t.Error("runtime overlay artifact unchanged after a runtime overlay commit")
	}
	if before.System.Digest != after.System.Digest || before.Image.Digest != after.Image.Digest || before.Kernel.Digest != after.Kernel.Digest {
		t.Error("system overlay, image or kernel changed after a runtime overlay commit")
	}
	if _, inv := e.inventory(); inv.Commit != c2 || inv.Nodes["c001"].Artifacts.Runtime != after.Runtime.Digest {
		t.Errorf("recorded inventory: commit %s, runtime %s", inv.Commit, inv.Nodes["c001"].Artifacts.Runtime)
	}
}

// A comment-only commit changes nothing served: no build, the same
// snapshot published under the new commit's name; the new commit is
// recorded as the running one.
func TestReconcileCommentOnlyCommit(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	files := e.artifacts()
	_, inv1 := e.inventory()
	c2 := e.repo.commit(edit(t, baseFiles(), "main.hcl", "# a small test cluster", "# a small test cluster, commented"), "comment")
	ev, err := e.once(Options{})
	if err != nil || ev.Result != ResultUnchanged || ev.Commit.Hash != c2 {
		t.Fatalf("comment-only commit: %q %v", ev.Result, err)
	}
	if ev.Plan == nil || ev.Plan.HasChanges() {
		t.Errorf("comment-only commit planned changes: %+v", ev.Plan)
	}
	// The served snapshot, unchanged but for its name, now names c2, as
	// the inventory does: GET /status, the notes and GET /inventory agree.
	if len(e.published) != 2 {
		t.Fatalf("comment-only commit published %d snapshots, want the served one renamed", len(e.published)-1)
	}
	if prev, cur := e.published[0], e.published[1]; cur.Commit != c2 || len(cur.Nodes) != len(prev.Nodes) || &cur.Nodes[0] != &prev.Nodes[0] {
		t.Errorf("published after the comment: commit %s (want %s), the same nodes: %v", cur.Commit, c2, &cur.Nodes[0] == &prev.Nodes[0])
	}
	if e.rec.Snapshot().Commit != c2 {
		t.Errorf("served snapshot names %s, want %s", e.rec.Snapshot().Commit, c2)
	}
	if got := e.artifacts(); !slices.Equal(got, files) {
		t.Errorf("comment-only commit changed the artifact store:\nbefore %v\nafter  %v", files, got)
	}
	_, inv2 := e.inventory()
	if inv2.Commit != c2 || inv2.Manifest != inv1.Manifest {
		t.Errorf("recorded: commit %s manifest %s; want %s, %s", inv2.Commit, inv2.Manifest, c2, inv1.Manifest)
	}
	if len(e.evals) != 2 || e.evals[1].Result != ResultUnchanged {
		t.Errorf("evaluations: %d", len(e.evals))
	}
}

// An invalid commit is reported once as a *ConfigError; the next pass
// does not report it again; the last good snapshot and inventory stay.
func TestReconcileInvalidCommitReportedOnce(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	snap := e.rec.Snapshot()
	data, _ := e.inventory()
	bad := e.repo.commit(edit(t, baseFiles(), "main.hcl", "image.rocky\n", "image.rocky8\n"), "typo")
	ev, err := e.once(Options{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Commit != bad || ev.Result != ResultRejected || len(ce.Diags) == 0 {
		t.Fatalf("invalid commit: %q %v; want a *ConfigError for %s", ev.Result, err, bad)
	}
	// The next pass evaluates nothing. (It answers "unchanged" with no
	// error today, although the tip is the rejected commit: see the
	// report; only the absence of a second report is asserted.)
	if ev, _ := e.once(Options{}); ev.Result == ResultApplied {
		t.Fatalf("second pass applied the invalid commit")
	}
	if len(e.evals) != 2 || e.evals[1].Result != ResultRejected {
		t.Errorf("OnEvaluated called %d times; want once for the first commit and once for the invalid one", len(e.evals))
	}
	if e.rec.Snapshot() != snap || len(e.published) != 1 {
		t.Error("the served snapshot changed after an invalid commit")
	}
	if got, _ := e.inventory(); !bytes.Equal(got, data) {
		t.Error("the recorded inventory changed after an invalid commit")
	}
	// Even a recheck (the poll backstop) does not report it again.
	if _, err := e.once(Options{Recheck: true}); !IsConfigError(err) || len(e.evals) != 2 {
		t.Errorf("recheck of the invalid commit: %v, %d evaluations", err, len(e.evals))
	}
}

// A force-push back to an older commit is applied like any other.
func TestReconcileForcePushBack(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(baseFiles(), "first")
	e.mustApply(c1)
	c2 := e.repo.commit(edit(t, baseFiles(), "main.hcl", `ip       = "10.99.0.11"`, `ip       = "10.99.0.21"`), "renumber")
	e.mustApply(c2)
	e.repo.git("reset", "-q", "--hard", c1)
	ev := e.mustApply(c1)
	if ev.Plan.Summary.Change == 0 {
		t.Errorf("going back planned %+v", ev.Plan.Summary)
	}
	if n := node(e.rec.Snapshot(), "c001"); n.IP.String() != "10.99.0.11" {
		t.Errorf("c001 served with %s after going back", n.IP)
	}
}

// A change inside an image source (same commit) is noticed only by a
// recheck, and is then applied with a new image digest.
func TestReconcileImageChangeNeedsRecheck(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	writeFile(t, filepath.Join(e.image, "boot/vmlinuz-1"), "a rebuilt kernel, longer than before\n")
	if ev, err := e.once(Options{}); err != nil || ev.Result != ResultUnchanged || len(e.published) != 1 {
		t.Fatalf("pass without recheck: %q %v, %d published", ev.Result, err, len(e.published))
	}
	ev, err := e.once(Options{Recheck: true})
	if err != nil || ev.Result != ResultApplied {
		t.Fatalf("recheck: %q %v", ev.Result, err)
	}
	if !slices.Equal(ev.Plan.NeedsReboot, []string{"c001", "c002"}) {
		t.Errorf("needs_reboot %v after an image change", ev.Plan.NeedsReboot)
	}
	before, after := node(e.published[0], "c001").Artifacts, node(e.published[1], "c001").Artifacts
	if before.Kernel.Digest == after.Kernel.Digest {
		t.Error("kernel artifact unchanged after the image's kernel changed")
	}
	// A recheck when nothing changed does nothing.
	if ev, err := e.once(Options{Recheck: true}); err != nil || ev.Result != ResultUnchanged || len(e.published) != 2 {
		t.Errorf("idle recheck: %q %v, %d published", ev.Result, err, len(e.published))
	}
}

// auto_apply = false plans the commit and applies nothing; ApplyPlan of
// the pending plan applies it.
func TestReconcileAutoApplyFalse(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(edit(t, baseFiles(), "main.hcl", `address = "10.99.0.1"`, "address    = \"10.99.0.1\"\n  auto_apply = false"), "manual")
	ev, err := e.once(Options{})
	if err != nil || ev.Result != ResultPlanned {
		t.Fatalf("auto_apply = false: %q %v", ev.Result, err)
	}
	if len(e.published) != 0 || e.rec.Snapshot() != nil || len(e.artifacts()) != 0 {
		t.Errorf("a planned commit published %d snapshots, stored %d artifacts", len(e.published), len(e.artifacts()))
	}
	if _, inv := e.inventory(); inv != nil {
		t.Error("a planned commit was recorded as running")
	}
	p := e.rec.Pending()
	if p == nil || p.Commit != c1 || !p.HasChanges() {
		t.Fatalf("pending plan: %+v", p)
	}
	// The pending plan is kept in the state directory, as a saved plan.
	saved, err := os.ReadFile(filepath.Join(e.state, PendingPlanFile))
	if err != nil {
		t.Fatalf("the pending plan is not kept: %v", err)
	}
	var sp Plan
	if err := json.Unmarshal(saved, &sp); err != nil || sp.Commit != c1 || sp.Desired == nil {
		t.Fatalf("kept pending plan: %v %+v", err, sp.Commit)
	}
	// Planned once: the next pass does not plan or report it again.
	if ev, err := e.once(Options{}); err != nil || ev.Result != ResultUnchanged || len(e.evals) != 1 {
		t.Errorf("second pass: %q %v, %d evaluations", ev.Result, err, len(e.evals))
	}
	ev, err = e.rec.ApplyPlan(context.Background(), p)
	if err != nil || ev.Result != ResultApplied {
		t.Fatalf("ApplyPlan: %q %v", ev.Result, err)
	}
	if _, inv := e.inventory(); inv == nil || inv.Commit != c1 || len(e.published) != 1 || e.rec.Pending() != nil {
		t.Errorf("after ApplyPlan: inventory %v, %d published, pending %v", inv, len(e.published), e.rec.Pending())
	}
	if _, err := os.Stat(filepath.Join(e.state, PendingPlanFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the applied pending plan is still kept: %v", err)
	}
}

// A plan made against one running state is refused (a *StaleError) once
// another commit was applied.
func TestApplyPlanStale(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	c2 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "two\n"), "two")
	running, data := e.rec.Running()
	p, err := PlanCommit(e.repo.source(), c2, e.vars, "", nil, running, data)
	if err != nil || !p.HasChanges() {
		t.Fatalf("PlanCommit: %v %+v", err, p)
	}
	c3 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "three\n"), "three")
	e.mustApply(c3)
	snap := e.rec.Snapshot()
	ev, err := e.rec.ApplyPlan(context.Background(), p)
	var se *StaleError
	if !errors.As(err, &se) || ev.Result == ResultApplied {
		t.Fatalf("stale plan: %q %v; want a *StaleError", ev.Result, err)
	}
	if e.rec.Snapshot() != snap {
		t.Error("a refused plan changed the served snapshot")
	}
	if _, inv := e.inventory(); inv.Commit != c3 {
		t.Errorf("running commit %s after a refused plan; want %s", inv.Commit, c3)
	}
	// The same plan made now applies.
	running, data = e.rec.Running()
	p, err = PlanCommit(e.repo.source(), c2, e.vars, "", nil, running, data)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := e.rec.ApplyPlan(context.Background(), p); err != nil || ev.Result != ResultApplied || ev.Commit.Hash != c2 {
		t.Errorf("fresh plan: %q %v", ev.Result, err)
	}
}

// A plan made where the image source cannot be read (CI: known after
// apply) is applied by the server that can read it, as terraform applies
// a plan with unknown values.
func TestApplyPlanWithUnknownImage(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	c2 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "two\n"), "two")
	commit, err := e.repo.source().Resolve(c2)
	if err != nil {
		t.Fatal(err)
	}
	cluster, srv, err := Load(commit, e.vars, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	desired, err := Desire(commit, cluster, srv, false) // as in CI, without the image
	if err != nil {
		t.Fatal(err)
	}
	running, data := e.rec.Running()
	p := Diff(running, desired, Digest(data))
	if len(p.Unknown) != 1 || !p.HasChanges() {
		t.Fatalf("plan: unknown %v, changes %v", p.Unknown, p.HasChanges())
	}
	ev, err := e.rec.ApplyPlan(context.Background(), p)
	if err != nil || ev.Result != ResultApplied {
		t.Fatalf("a saved plan with an image known after apply must apply on the server: result %s, %v", ev.Result, err)
	}
}

// A Publish that fails (ports busy) keeps the old snapshot and
// inventory; the commit is retried and applied once Publish works.
func TestReconcilePublishErrorKeepsOldState(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	snap := e.rec.Snapshot()
	data, _ := e.inventory()
	c2 := e.repo.commit(edit(t, baseFiles(), "main.hcl", `address = "10.99.0.1"`, "address   = \"10.99.0.1\"\n  http_port = 8080"), "port")
	e.publishErr = errors.New("address already in use")
	ev, err := e.once(Options{})
	if err == nil || ev.Result != ResultError || IsConfigError(err) || !errors.Is(err, e.publishErr) {
		t.Fatalf("publish failure: %q %v", ev.Result, err)
	}
	if e.rec.Snapshot() != snap {
		t.Error("the served snapshot changed although Publish failed")
	}
	if got, _ := e.inventory(); !bytes.Equal(got, data) {
		t.Error("the recorded inventory changed although Publish failed")
	}
	if _, running := e.rec.Running(); !bytes.Equal(running, data) {
		t.Error("the running inventory in memory changed although Publish failed")
	}
	e.publishErr = nil
	e.mustApply(c2)
	if e.rec.Snapshot().Server.HTTPPort != 8080 {
		t.Errorf("served HTTP port %d after the retry", e.rec.Snapshot().Server.HTTPPort)
	}
}

// A site that runs with auto_apply = false stays change-managed: a push
// that turns auto_apply back on is itself planned, not applied; and a
// commit equal to the running state drops the pending plan.
func TestAutoApplyOffStaysOffUntilApplied(t *testing.T) {
	e := newRecEnv(t)
	manual := edit(t, baseFiles(), "main.hcl", `address = "10.99.0.1"`, "address    = \"10.99.0.1\"\n  auto_apply = false")
	c1 := e.repo.commit(manual, "manual")
	if ev, err := e.once(Options{}); err != nil || ev.Result != ResultPlanned {
		t.Fatalf("first commit: %q %v", ev.Result, err)
	}
	if _, err := e.rec.ApplyPlan(context.Background(), e.rec.Pending()); err != nil {
		t.Fatal(err)
	}
	// Turning auto_apply on, with another change, in one push: planned.
	c2 := e.repo.commit(with(baseFiles(), "overlays/generic/etc/motd", "sneaky\n"), "auto on")
	ev, err := e.once(Options{})
	if err != nil || ev.Result != ResultPlanned || e.rec.Pending() == nil || e.rec.Pending().Commit != c2 {
		t.Fatalf("a push turning auto_apply on while it is off: %q %v; want planned", ev.Result, err)
	}
	if _, inv := e.inventory(); inv == nil || inv.Commit != c1 {
		t.Fatalf("the running state moved without an apply: %+v", inv)
	}
	// Back to the running commit's content: nothing to do, no pending plan.
	e.repo.commit(manual, "revert")
	if ev, err := e.once(Options{}); err != nil || ev.Result != ResultUnchanged {
		t.Fatalf("revert: %q %v", ev.Result, err)
	}
	if _, err := os.Stat(filepath.Join(e.state, PendingPlanFile)); !errors.Is(err, fs.ErrNotExist) || e.rec.Pending() != nil {
		t.Errorf("a pending plan is kept although the running state matches the tip: %v", err)
	}
}
