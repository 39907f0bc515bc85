package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/bootsvc/webui"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/notes"
	"github.com/gitboot/gitboot/rollout"
)

// rolloutService runs rollouts inside `gitboot serve` (POST /rollout, and
// by itself with the server block's rollout { auto = true }): it knows
// which nodes need a reboot to pick up the applied commit, their BMCs
// (the applied commit's bmc blocks and the --bmc-credentials file), and
// writes what each rollout did to the notes and the status page.
type rolloutService struct {
	log      *slog.Logger
	src      reconcile.Source
	vars     map[string]string
	server   string
	roots    hclspec.PathChecker
	creds    string // --bmc-credentials; "" none
	snapshot func() *bootsvc.Snapshot
	store    *status.Store
	notes    *notesWriter // nil: --notes=false
	ui       *webui.UI    // nil: --ui=false
	marks    *rebootMarks
	mgr      *rollout.Manager
	// loadFn evaluates a commit (default: load, from the source); powerFn
	// makes the Power of a rollout (default: rollout.BMCs); record takes
	// a rollout's notes records (default: the notes writer). Tests set
	// them.
	loadFn  func(ctx context.Context, commit string) (*hclspec.Cluster, *hclspec.Server, error)
	powerFn func(targets []power.Target) rollout.Power
	record  func(commit string, r notes.Record)

	mu      sync.Mutex
	loaded  string // the commit of cluster and srv
	cluster *hclspec.Cluster
	srv     *hclspec.Server
	kick    chan string // applied commits, newest wins (see Run)
}

func newRolloutService(s *rolloutService, stateDir string) *rolloutService {
	s.marks = openRebootMarks(filepath.Join(stateDir, rebootMarksFile), s.log)
	s.kick = make(chan string, 1)
	if s.loadFn == nil {
		s.loadFn = s.load
	}
	if s.powerFn == nil {
		s.powerFn = func(targets []power.Target) rollout.Power { return rollout.BMCs(targets, power.Options{}) }
	}
	if s.record == nil {
		s.record = func(commit string, r notes.Record) {
			if s.notes != nil {
				s.notes.Add(commit, r)
			}
		}
	}
	s.mgr = rollout.NewManager(rollout.ManagerConfig{Prepare: s.prepare, Update: s.show, Logger: s.log.With("svc", "rollout")})
	return s
}

// Evaluated takes note of an applied commit (the reconciler's OnEvaluated
// hook): the nodes its plan needs rebooted are marked, a running rollout
// of an older commit is superseded and, with rollout { auto = true }, a
// rollout of the new commit starts. It never blocks (Run does the work).
func (s *rolloutService) Evaluated(ev reconcile.Evaluation) {
	if ev.Commit == nil || ev.Result != reconcile.ResultApplied {
		return
	}
	if ev.Plan != nil && len(ev.Plan.NeedsReboot) > 0 {
		s.marks.mark(ev.Plan.NeedsReboot, time.Now())
	}
	for {
		select {
		case s.kick <- ev.Commit.Hash:
			return
		default:
		}
		select { // drop the older commit waiting, if any
		case <-s.kick:
		default:
		}
	}
}

// Run handles applied commits until ctx ends, then stops a running
// rollout.
func (s *rolloutService) Run(ctx context.Context) error {
	defer s.mgr.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case commit := <-s.kick:
			if s.mgr.Supersede(commit) {
				s.log.Info("rollout superseded by a newer commit", "commit", reconcile.Short(commit))
			}
			_, srv, err := s.loadFn(ctx, commit)
			if err != nil {
				s.log.Error("reading the rollout settings of the applied commit", "commit", reconcile.Short(commit), "err", err)
				continue
			}
			if !srv.Rollout.Auto {
				continue
			}
			p, err := s.mgr.Start(ctx, rollout.Request{Auto: true})
			if err != nil {
				s.log.Error("automatic rollout not started", "commit", reconcile.Short(commit), "err", err)
			} else if p.State == rollout.StateCompleted {
				s.log.Info("automatic rollout: no node needs a reboot", "commit", reconcile.Short(commit))
			}
		}
	}
}

// load returns the cluster and server block of commit (the applied one),
// evaluated once per commit.
func (s *rolloutService) load(ctx context.Context, commit string) (*hclspec.Cluster, *hclspec.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded == commit && s.cluster != nil {
		return s.cluster, s.srv, nil
	}
	c, err := s.src.Resolve(commit)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the applied commit %s: %w", reconcile.Short(commit), err)
	}
	cluster, srv, err := reconcile.LoadContext(ctx, c, s.vars, s.server, s.roots)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluating the applied commit %s: %w", reconcile.Short(commit), err)
	}
	s.loaded, s.cluster, s.srv = commit, cluster, srv
	return cluster, srv, nil
}

// prepare turns a request into a rollout of the applied commit: the nodes
// that need a reboot (see needsReboot), filtered by --only and --tag, in
// name order, with their BMCs.
func (s *rolloutService) prepare(ctx context.Context, req rollout.Request) (rollout.Config, error) {
	var cfg rollout.Config
	snap := s.snapshot()
	if snap == nil || snap.Commit == "" || s.store == nil {
		return cfg, errors.New("nothing is applied yet")
	}
	cluster, srv, err := s.loadFn(ctx, snap.Commit)
	if err != nil {
		return cfg, err
	}
	batch := cmpOr(req.Batch, srv.Rollout.Batch, rollout.DefaultBatch)
	if cfg.Batch, err = rollout.ParseBatch(batch); err != nil {
		return cfg, err
	}
	cfg.MaxFailures = srv.Rollout.MaxFailures
	if req.MaxFailures != nil {
		if *req.MaxFailures < 0 {
			return cfg, fmt.Errorf("max failures %d: must be 0 or more", *req.MaxFailures)
		}
		cfg.MaxFailures = *req.MaxFailures
	}
	if req.Wait != "" {
		cfg.Wait = status.Stage(strings.ToUpper(req.Wait))
		if rollout.StageIndex(cfg.Wait) < 0 {
			return cfg, fmt.Errorf("wait stage %q: use one of %s", req.Wait, stageList())
		}
	}
	if req.Timeout != "" {
		if cfg.Timeout, err = time.ParseDuration(req.Timeout); err != nil || cfg.Timeout <= 0 {
			return cfg, fmt.Errorf("timeout %q: want a positive duration such as 15m", req.Timeout)
		}
	}
	names, err := s.needsReboot(snap, req)
	if err != nil {
		return cfg, err
	}
	now := time.Now().UTC()
	cfg.ID = "r" + now.Format("20060102T150405Z")
	cfg.Server, cfg.Commit, cfg.Nodes = snap.Server.Name, snap.Commit, names
	cfg.Watch = s.store.Rows
	cfg.Record = func(r notes.Record) { s.record(snap.Commit, r) }
	if len(names) == 0 || req.DryRun {
		cfg.Power = noPower{}
		if len(names) == 0 || s.creds == "" {
			return cfg, nil
		}
	}
	if s.creds == "" {
		return cfg, errors.New("this server has no BMC credentials: start gitboot serve with --bmc-credentials FILE")
	}
	creds, diags := power.LoadCredentials(s.creds)
	if diags.HasErrors() {
		return cfg, fmt.Errorf("credentials file %s: %s", s.creds, diags.Error())
	}
	targets, err := power.Select(cluster, creds, power.Selection{Names: names})
	if err != nil {
		return cfg, err
	}
	cfg.Power = s.powerFn(targets)
	return cfg, nil
}

// needsReboot lists, in name order, the served nodes that must reboot to
// pick up the applied commit: a node that booted another kernel, image or
// system overlay than the applied ones (status shows "*"), or one marked
// by an applied plan (kernel arguments, say) that has not booted since.
// A node never seen booting is not rebooted. only and tags filter.
func (s *rolloutService) needsReboot(snap *bootsvc.Snapshot, req rollout.Request) ([]string, error) {
	var names []string
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		if matchesAll(n.Tags, req.Tags) {
			names = append(names, n.Name)
		}
	}
	for _, p := range req.Only {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--only %q: %w", p, err)
		}
	}
	current := httpboot.CurrentDigests(snap)
	var out []string
	for _, r := range s.store.Rows(names) {
		if len(req.Only) > 0 && !slices.ContainsFunc(req.Only, func(p string) bool {
			ok, _ := path.Match(p, r.Name)
			return ok || p == r.Name
		}) {
			continue
		}
		if r.BootedDigests.IsZero() {
			continue
		}
		cur, ok := current(r.Name)
		if (ok && r.BootedDigests.NeedsReboot(cur)) || s.marks.needs(r.Name, r.Boot.Start()) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

func matchesAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func stageList() string {
	var s []string
	for _, st := range status.BootStages {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// noPower is the Power of a dry run or an empty rollout: it is never
// called.
type noPower struct{}

func (noPower) Status(_ context.Context, nodes []string) []rollout.PowerResult { return refused(nodes) }
func (noPower) Cycle(_ context.Context, nodes []string) []rollout.PowerResult  { return refused(nodes) }

func refused(nodes []string) []rollout.PowerResult {
	out := make([]rollout.PowerResult, len(nodes))
	for i, n := range nodes {
		out[i] = rollout.PowerResult{Node: n, Power: power.StateUnknown, Err: errors.New("no BMC access in a dry run")}
	}
	return out
}

// show puts a rollout's progress on the status page.
func (s *rolloutService) show(p *rollout.Progress) {
	if s.ui == nil || p == nil {
		return
	}
	s.ui.SetRollout(webRollout(p))
}

// webRollout is the status page's view of a rollout.
func webRollout(p *rollout.Progress) *webui.Rollout {
	r := &webui.Rollout{ID: p.ID, Commit: p.Commit, State: p.State, Reason: p.Reason, Batches: len(p.Batches),
		Started: p.Started, Ended: p.Ended}
	for i, b := range p.Batches {
		if b.State != rollout.BatchPending {
			r.Batch = i + 1
		}
	}
	for _, n := range p.Nodes {
		switch n.State {
		case rollout.NodeRebooting:
			r.Rebooting = append(r.Rebooting, n.Name)
		case rollout.NodeDone:
			r.Done = append(r.Done, n.Name)
		case rollout.NodeFailed:
			r.Failed = append(r.Failed, n.Name+": "+n.Reason)
		case rollout.NodeSkipped:
			r.Skipped = append(r.Skipped, n.Name)
		case rollout.NodePending:
			r.Pending++
		}
	}
	return r
}
