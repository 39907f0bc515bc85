package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/hashicorp/hcl/v2"
)

// Results of evaluating a commit, as recorded (and, later, written to git
// notes).
const (
	ResultApplied   = "applied"   // the commit's desired state is served
	ResultUnchanged = "unchanged" // served already: nothing to apply (a comment-only commit)
	ResultRejected  = "rejected"  // invalid: only a new commit fixes it
	ResultPlanned   = "planned"   // auto_apply = false: waits for `gitboot apply`
	ResultError     = "error"     // transient (disk, image source, port): retried
)

// Config configures a Reconciler.
type Config struct {
	Source   Source
	Ref      string            // branch, tag or commit; default "main"
	Server   string            // server block to serve; "" when there is one
	Vars     map[string]string // --var values
	Builder  *artifact.Builder
	StateDir string // where the running inventory is persisted
	Logger   *slog.Logger
	// Publish hands a new snapshot to the boot services. It may rebind
	// sockets when ports, interface or DHCP mode changed; an error keeps
	// the previous snapshot served and the apply fails (retried). nil:
	// nothing to publish to (gitboot apply without a server).
	Publish func(*bootsvc.Snapshot) error
	// Verify checks a commit before it is loaded (signature policy); an
	// error rejects the commit like an invalid one. nil: every commit.
	Verify func(*gitsrc.Commit) error
	// OnEvaluated is called after every evaluation of a commit that is
	// new to the reconciler (the hook for git notes and metrics).
	OnEvaluated func(Evaluation)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// ReloadTimeout bounds the evaluation and build of one commit; a
	// commit that takes longer is rejected as too expensive (a
	// *ConfigError with TooExpensive set) and the last good state stays
	// served. 0: no bound.
	ReloadTimeout time.Duration
	// Roots decides which server paths (image sources, ipxe_dir) a commit
	// may name; one outside is a rejected commit, and a restored state
	// naming one is not served. The daemon passes the operator's
	// --image-root and --ipxe-dir; nil checks nothing (tests).
	Roots hclspec.PathChecker
	// OneShot is set by a process that exits after one apply (gitboot
	// apply): the memory an evaluation freed is not given back to the
	// system (a forced collection and scavenge that the exit does anyway).
	OneShot bool
	// Prior is the running inventory a plan in this process read
	// (Plan.RunningRead), for a OneShot reconciler: Restore takes it
	// instead of reading the files again while inventory.json is the file
	// it was read from (RunningRead.Current).
	Prior *RunningRead
}

// Source is where commits come from: a *gitsrc.Source. A source that
// can also fetch (a remote clone) is fetched before each resolve.
type Source interface {
	Resolve(ref string) (*gitsrc.Commit, error)
}

type fetcher interface {
	Fetch(ctx context.Context) error
}

// historian is a source that can list the commits between two (for
// superseded commits).
type historian interface {
	Between(since, tip string, max int) ([]string, bool, error)
}

// Evaluation is what one evaluation of a commit found and did.
type Evaluation struct {
	Commit *gitsrc.Commit
	Result string // one of the Result* constants
	Plan   *Plan  // nil when the commit could not be planned; after an apply, without attribute values (Plan.dropDetails)
	Err    error  // *ConfigError when rejected; the transient error otherwise
	// Superseded lists the commits pushed together with Commit, between
	// the commit evaluated before and this one, that were never evaluated
	// on their own (newest first; at most 100).
	Superseded []string
	Build      time.Duration
	Duration   time.Duration
}

// ConfigError is a commit whose configuration is invalid: only a new
// commit fixes it. Files holds the parsed sources for showing snippets.
type ConfigError struct {
	Commit string
	Diags  hcl.Diagnostics
	Files  map[string]*hcl.File
	// TooExpensive: evaluating and building the commit took longer than
	// Config.ReloadTimeout.
	TooExpensive bool
}

func (e *ConfigError) Error() string {
	if e.TooExpensive && len(e.Diags) > 0 {
		return fmt.Sprintf("commit %s is too expensive: %s", Short(e.Commit), e.Diags[0].Detail)
	}
	return fmt.Sprintf("commit %s is invalid: %s", Short(e.Commit), e.Diags.Error())
}

// IsConfigError reports whether err means the commit itself is invalid.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// StaleError is a saved plan made against another running state than the
// current one, or for a desired state that changed since.
type StaleError struct{ Reason string }

func (e *StaleError) Error() string { return "stale plan: " + e.Reason }

// Reconciler makes the served state equal the tracked ref's commit. It is
// steppable: ReconcileOnce runs one pass; Run drives it from triggers.
type Reconciler struct {
	cfg     Config
	trigger chan struct{}
	recheck atomic.Bool // the next pass also re-examines image sources
	// assetSecret keys the nodes' asset key digests (assetkeyhmac.go).
	assetSecret []byte

	mu          sync.Mutex
	running     *Inventory
	runningHash string // Digest of the encoded running inventory ("" before the first apply)
	// served is the encoded running inventory for GET /inventory (read
	// from its file in the state directory, inventory_served.go), for
	// readers that must not wait.
	served    atomic.Pointer[httpboot.EncodedInventory]
	dirty     bool // running is newer than the file: write it again
	snap      *bootsvc.Snapshot
	evaluated string // the last commit evaluated to an end (applied, unchanged, rejected, planned)
	pending   *Plan  // the plan waiting for `gitboot apply` (auto_apply = false)
	rejected  *ConfigError
	idleState *idleState   // idle.go
	loads     atomic.Int64 // commits loaded (desire), for tests
	// cacheLoads counts the commits evaluated with the cache (a plan's
	// load reused is not), for tests.
	cacheLoads atomic.Int64
	evalCache  *hclspec.EvalCache // evalcache.go; nil until the first load
}

// New makes a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Ref == "" {
		cfg.Ref = "main"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reconciler{cfg: cfg, trigger: make(chan struct{}, 1)}
	r.loadAssetSecret()
	return r
}

// Restore loads the last applied inventory from the state directory and
// its build, and returns the snapshot to serve before anything else is
// resolved (nil when nothing was applied yet). The snapshot is not
// published: the caller starts the services with it.
func (r *Reconciler) Restore() (*bootsvc.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, data, sum, err := r.readRunning()
	if statefile.SetAside(r.cfg.Logger, err, "starting from the branch tip as if nothing was applied") {
		return nil, nil
	}
	if err != nil || inv == nil {
		return nil, err
	}
	if err := checkInventoryRoots(inv, r.cfg.Roots); err != nil {
		return nil, fmt.Errorf("restoring the applied state of commit %s: %w", Short(inv.Commit), err)
	}
	if err := r.verifyApplied(inv.Commit); err != nil {
		// Not served, but a plan made against the recorded state (which
		// replaces it with a trusted commit) is not stale.
		r.runningHash = sum
		if data != nil {
			r.runningHash = digestOf(data)
		}
		return nil, err
	}
	res, err := r.cfg.Builder.Load(inv.Manifest)
	if err != nil {
		return nil, fmt.Errorf("restoring the applied state of commit %s: %w", Short(inv.Commit), err)
	}
	data, onDisk := r.rekeyLegacy(inv, data)
	snap, err := inv.Snapshot(res)
	if err != nil {
		return nil, err
	}
	r.running, r.snap = inv, snap
	if data == nil { // a one-shot's: the digest alone (readRunning), nothing published
		r.runningHash = sum
		r.served.Store(nil)
	} else {
		r.publish(data, onDisk)
	}
	r.evaluated = inv.Commit
	return snap, nil
}

// readRunning reads the running inventory: with its encoding (data),
// which a server publishes (GET /inventory), or for a one-shot reconciler
// (gitboot apply) only the encoding's digest (sum), which an apply
// compares with its plan's: reading 8 MB at 10,000 nodes for it costs a
// tenth of an apply.
func (r *Reconciler) readRunning() (inv *Inventory, data []byte, sum string, err error) {
	if r.cfg.OneShot {
		if rr := r.cfg.Prior; rr.Current(r.cfg.StateDir) {
			return rr.Inv, nil, rr.Digest, nil
		}
		inv, sum, err = ReadInventoryDigest(r.cfg.StateDir)
		return inv, nil, sum, err
	}
	inv, data, err = ReadInventory(r.cfg.StateDir)
	return inv, data, "", err
}

// Running returns the running inventory and its encoding (nil before the
// first apply or Restore). The encoding is read from the state directory
// at each call: RunningInventory is for callers that need only the
// inventory.
func (r *Reconciler) Running() (*Inventory, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running, r.InventoryJSON()
}

// RunningInventory returns the running inventory (nil before the first
// apply or Restore).
func (r *Reconciler) RunningInventory() *Inventory {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// InventoryJSON returns the encoded running inventory; nil before the
// first apply. It never waits for a pass in progress (a build may take
// minutes). GET /inventory serves ServedInventory, without a copy.
func (r *Reconciler) InventoryJSON() []byte {
	return readServed(r.served.Load())
}

// ServedInventory returns the encoded running inventory as GET
// /inventory serves it (nil before the first apply), without waiting for
// a pass in progress.
func (r *Reconciler) ServedInventory() *httpboot.EncodedInventory { return r.served.Load() }

// Snapshot returns the snapshot being served (nil before the first apply).
func (r *Reconciler) Snapshot() *bootsvc.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

// Pending returns the plan waiting for `gitboot apply` (auto_apply =
// false), or nil.
func (r *Reconciler) Pending() *Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// Options tune one ReconcileOnce.
type Options struct {
	// Recheck evaluates the tip even when it is the commit evaluated last
	// (an image source may have changed: the poll backstop does this).
	Recheck bool
}

// ReconcileOnce runs one pass: resolve the ref, load and validate the
// commit, compute its desired state, plan it against the running
// inventory and, when there are changes (and auto_apply allows),
// build, publish, record the inventory and collect garbage. An invalid
// commit is evaluated once (a *ConfigError) and then waits for a new
// commit; any other error leaves the served state as it was and is worth
// retrying.
func (r *Reconciler) ReconcileOnce(ctx context.Context, opt Options) (ev Evaluation, err error) {
	start := r.cfg.Now()
	// Fetch: a remote source's new commits (a local one: nothing). Outside
	// the lock: a slow or stalled remote (bounded by its timeout) never
	// holds up POST /apply, /inventory or another pass's apply.
	if f, ok := r.cfg.Source.(fetcher); ok {
		if err := f.Fetch(ctx); err != nil {
			r.cfg.Logger.Warn("fetch failed; using the commits already fetched", "err", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	commit, err := r.cfg.Source.Resolve(r.cfg.Ref)
	if err != nil {
		return Evaluation{Result: ResultError, Err: err}, err
	}
	if r.rejected != nil && r.rejected.Commit == commit.Hash {
		// Only a new commit fixes it; do not report it again.
		return Evaluation{Commit: commit, Result: ResultRejected, Err: r.rejected}, r.rejected
	}
	if commit.Hash == r.evaluated && (!opt.Recheck || r.idle(commit)) {
		return Evaluation{Commit: commit, Result: ResultUnchanged}, nil
	}
	ev = Evaluation{Commit: commit}
	before := r.knownSources()
	var desiredInv *Inventory
	if h, ok := r.cfg.Source.(historian); ok && r.evaluated != "" {
		ev.Superseded, _, _ = h.Between(r.evaluated, commit.Hash, 100)
	}
	done := boundMemory(!r.cfg.OneShot)
	defer func() {
		ev.Duration = r.cfg.Now().Sub(start)
		done()
		newCommit := ev.Commit != nil && ev.Commit.Hash != r.evaluated
		switch ev.Result {
		case ResultApplied, ResultRejected, ResultPlanned:
			r.evaluated = ev.Commit.Hash
		case ResultUnchanged:
			r.evaluated = ev.Commit.Hash
		}
		if desiredInv != nil && (ev.Result == ResultApplied || ev.Result == ResultUnchanged || ev.Result == ResultPlanned) {
			r.settle(commit.Hash, desiredInv, before)
		} else {
			r.idleState = nil
		}
		if r.cfg.OnEvaluated != nil && (newCommit || ev.Result == ResultApplied || ev.Result == ResultError) {
			r.cfg.OnEvaluated(ev)
		}
	}()

	_, err = r.run(ctx, pass{ev: &ev, rejectInvalid: true, decide: func(d *desired) (bool, error) {
		desiredInv = d.inv
		return r.decideTip(&ev, d.inv, opt)
	}})
	return ev, err
}

// decideTip plans the tracked tip against the running inventory: true
// when it is to be built and applied. A desired state served already
// is recorded under the new commit (nothing rebuilt); with auto_apply =
// false the plan waits for gitboot apply.
func (r *Reconciler) decideTip(ev *Evaluation, desired *Inventory, opt Options) (bool, error) {
	commit := ev.Commit
	plan := Diff(r.running, desired, r.runningHash)
	ev.Plan = plan
	// A served build missing an artifact (found damaged and removed) is
	// built again although nothing changed.
	rebuild := !plan.HasChanges() && opt.Recheck && r.incomplete()
	if !plan.HasChanges() && !rebuild {
		ev.Result = ResultUnchanged
		r.dropPending()
		if r.running != nil && (r.running.Commit != commit.Hash || r.dirty || (desired.Agent != "" && r.running.Agent != desired.Agent)) {
			// Same desired state under a new commit: record the new commit
			// as applied; nothing is rebuilt or swapped.
			inv := *r.running
			inv.Commit, inv.Subject, inv.Author, inv.CommittedAt = desired.Commit, desired.Subject, desired.Author, desired.CommittedAt
			if desired.Agent != "" {
				inv.Agent = desired.Agent
			}
			if err := r.record(&inv); err != nil {
				ev.Result, ev.Err = ResultError, err
				return false, err
			}
			r.recommit(commit.Hash)
		}
		r.cfg.Logger.Info("commit changes nothing served", "commit", commit.Short(), "subject", commit.Subject)
		return false, nil
	}
	// A change-managed site stays so until a reviewed apply: a push that
	// turns auto_apply on (or off) is itself planned, not applied.
	if !rebuild && (!desired.Server.AutoApply || (r.running != nil && !r.running.Server.AutoApply)) {
		ev.Result = ResultPlanned
		r.pending = plan
		if err := savePending(r.cfg.StateDir, plan); err != nil {
			r.cfg.Logger.Warn("keeping the pending plan failed", "err", err)
		}
		r.cfg.Logger.Info("commit planned; auto_apply is false: run gitboot apply to apply it", "commit", commit.Short(),
			"plan", filepath.Join(r.cfg.StateDir, PendingPlanFile),
			"add", plan.Summary.Add, "change", plan.Summary.Change, "destroy", plan.Summary.Destroy)
		return false, nil
	}
	return true, nil
}

// ApplyPlan applies a saved plan: exactly the desired state it shows,
// refused (a *StaleError) when the running state or the commit's desired
// state changed since it was made. It drops p's attribute values (see
// Plan.dropDetails): print p before, not after.
func (r *Reconciler) ApplyPlan(ctx context.Context, p *Plan) (ev Evaluation, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := r.cfg.Now()
	if got := r.runningHash; got != p.InventoryDigest {
		err := &StaleError{Reason: fmt.Sprintf("the running state changed since this plan was made (planned against %s, running %s)",
			orNone(p.InventoryDigest), orNone(got))}
		return Evaluation{Result: ResultError, Err: err}, err
	}
	commit, err := r.cfg.Source.Resolve(p.Commit)
	if err != nil {
		return Evaluation{Result: ResultError, Err: err}, err
	}
	ev = Evaluation{Commit: commit}
	r.idleState = nil // the next pass evaluates the tip again
	p.dropDetails()   // read no more: the memory is the build's
	done := boundMemory(!r.cfg.OneShot)
	defer func() {
		ev.Duration = r.cfg.Now().Sub(start)
		done()
		if ev.Result == ResultApplied {
			r.evaluated = commit.Hash
		}
		if r.cfg.OnEvaluated != nil {
			r.cfg.OnEvaluated(ev)
		}
	}()
	_, err = r.run(ctx, pass{ev: &ev, loaded: p.loaded, decide: func(d *desired) (bool, error) {
		if p.Desired != nil && !sameDesired(p.Desired, d.inv) {
			err := &StaleError{Reason: fmt.Sprintf("the desired state of commit %s changed since this plan was made (an image source changed?): plan again", Short(commit.Hash))}
			ev.Result, ev.Err = ResultError, err
			return false, err
		}
		ev.Plan = Diff(r.running, d.inv, r.runningHash)
		if !ev.Plan.HasChanges() {
			ev.Result = ResultUnchanged
			return false, nil
		}
		r.pending = nil
		return true, nil
	}})
	return ev, err
}
