package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/hashicorp/hcl/v2"
)

// pass is one commit taken through the pipeline that every way of
// applying shares (ReconcileOnce, ApplyPlan, RebuildApplied), under one
// reload deadline:
//
//	desire  load and validate the commit, compute its desired state (desireStep)
//	decide  the caller's plan: go on, or stop with ev saying why (decide)
//	build   build the commit's artifacts (buildStep)
//	commit  make its snapshot, publish it, commit the build (commitStep)
//	record  record the running inventory, collect garbage (recordStep)
type pass struct {
	ev *Evaluation // the commit (set) and what the pass found (set by the steps)
	// decide runs after desire; false stops the pass (ev says why). nil:
	// always go on.
	decide func(d *desired) (bool, error)
	// rejectInvalid remembers an invalid commit found by desire as the
	// rejected one (only a new commit fixes it): the tracked tip.
	rejectInvalid bool
	// loaded, when not nil, is the commit as the plan being applied loaded
	// it in this process (see reuseLoaded).
	loaded *loadedCommit
	// rebuild is the applied inventory being built again (RebuildApplied):
	// it keeps its applied time, nothing is published (the services start
	// with the snapshot), no garbage is collected and no commit is
	// rejected; nil for an apply.
	rebuild *Inventory
}

// desired is a commit evaluated: its cluster, server block and desired
// state.
type desired struct {
	cluster *hclspec.Cluster
	srv     *hclspec.Server
	inv     *Inventory
}

// run takes p's commit through the pipeline and returns the snapshot now
// served (nil when decide stopped the pass, or on error). On error the
// served state is unchanged.
func (r *Reconciler) run(ctx context.Context, p pass) (*bootsvc.Snapshot, error) {
	ctx, cancel := r.reloadContext(ctx)
	defer cancel()
	d, err := r.desireStep(ctx, p)
	if err != nil {
		return nil, err
	}
	if p.decide != nil {
		if ok, err := p.decide(d); !ok || err != nil {
			return nil, err
		}
	}
	res, err := r.buildStep(ctx, p, d)
	if err != nil {
		return nil, err
	}
	inv, snap, err := r.commitStep(p, d, res)
	if err != nil {
		return nil, err
	}
	r.recordStep(p, inv, res)
	return snap, nil
}

// desireStep evaluates the commit (desireCtx). An error is ev's result;
// with rejectInvalid, an invalid commit is remembered as rejected.
func (r *Reconciler) desireStep(ctx context.Context, p pass) (*desired, error) {
	commit := p.ev.Commit
	cluster, srv, inv, err := r.desireCtx(ctx, commit, p.loaded)
	if err == nil {
		return &desired{cluster: cluster, srv: srv, inv: inv}, nil
	}
	if p.rebuild != nil {
		return nil, fmt.Errorf("rebuilding the applied commit %s: %w", commit.Short(), err)
	}
	err = r.overDeadline(ctx, commit, err)
	p.ev.Result, p.ev.Err = resultOf(err), err
	if p.rejectInvalid {
		r.reject(commit, err)
	}
	return nil, err
}

// buildStep builds the desired state's artifacts. ev.Plan keeps its
// summary, actions and reboots, not the attribute values of its changes
// (see dropDetails). A build that fails on the commit's content rejects
// it.
func (r *Reconciler) buildStep(ctx context.Context, p pass, d *desired) (*artifact.Result, error) {
	ev := p.ev
	if ev.Plan != nil {
		ev.Plan.dropDetails() // read no more: the memory is the build's
	}
	var in *artifact.Inputs // the plan's input keys: its template data is the build's
	if p.loaded != nil && p.loaded.cluster == d.cluster {
		in = p.loaded.inputs
	}
	res, err := r.cfg.Builder.BuildWith(ctx, d.cluster, d.srv.Name, in)
	if err == nil {
		ev.Build = res.Duration
		return res, nil
	}
	if p.rebuild != nil {
		return nil, fmt.Errorf("rebuilding the applied commit %s: %w", ev.Commit.Short(), err)
	}
	err = repoError(ev.Commit.Hash, d.cluster, fmt.Errorf("building commit %s: %w", ev.Commit.Short(), err))
	err = r.overDeadline(ctx, ev.Commit, err)
	ev.Result, ev.Err = resultOf(err), err
	r.reject(ev.Commit, err)
	return nil, err
}

// commitStep makes the running inventory and snapshot of a build,
// publishes the snapshot (an apply) and commits the build.
func (r *Reconciler) commitStep(p pass, d *desired, res *artifact.Result) (*Inventory, *bootsvc.Snapshot, error) {
	ev := p.ev
	at := r.cfg.Now()
	if p.rebuild != nil {
		at = p.rebuild.AppliedAt
	}
	inv := d.inv.withBuild(res, at)
	snap, err := inv.Snapshot(res)
	if err != nil {
		ev.Result, ev.Err = ResultError, err
		return nil, nil, err
	}
	if r.cfg.Publish != nil && p.rebuild == nil {
		if err := r.cfg.Publish(snap); err != nil {
			err = fmt.Errorf("publishing commit %s: %w", ev.Commit.Short(), err)
			ev.Result, ev.Err = ResultError, err
			return nil, nil, err
		}
	}
	r.snap = snap
	if err := r.cfg.Builder.Commit(res); err != nil {
		msg := "recording the applied build failed"
		if p.rebuild != nil {
			msg = "recording the rebuilt build failed"
		}
		r.cfg.Logger.Error(msg, "err", err)
	}
	return inv, snap, nil
}

// recordStep records inv as the running inventory and, after an apply,
// removes artifacts no longer referenced.
//
// After an apply the collection runs beside the recording (they touch
// different files: the artifact store, and inventory.json with its binary
// copy): a crash between the two leaves what either order leaves, the
// previous inventory naming the previous manifest, which GC keeps.
func (r *Reconciler) recordStep(p pass, inv *Inventory, res *artifact.Result) {
	ev := p.ev
	var gcErr chan error
	if p.rebuild == nil {
		gcErr = make(chan error, 1)
		go func() {
			_, _, err := r.cfg.Builder.GC()
			gcErr <- err
		}()
	}
	if err := r.record(inv); err != nil {
		// Served, not recorded: a restart would serve the previous state.
		// The next pass writes it again.
		msg := "commit applied but not recorded; retrying on the next pass"
		if p.rebuild != nil {
			msg = "recording the rebuilt inventory failed"
		}
		r.cfg.Logger.Error(msg, "err", err)
	}
	if p.rebuild != nil {
		r.evaluated = ev.Commit.Hash
		r.cfg.Logger.Info("rebuilt the last applied commit", "commit", ev.Commit.Short(), "manifest", res.Manifest)
		return
	}
	if err := <-gcErr; err != nil {
		r.cfg.Logger.Warn("artifact garbage collection failed", "err", err)
	}
	ev.Result = ResultApplied
	r.dropPending()
	r.cfg.Logger.Info("applied commit", "commit", ev.Commit.Short(), "subject", ev.Commit.Subject, "nodes", len(inv.Nodes),
		"add", ev.Plan.Summary.Add, "change", ev.Plan.Summary.Change, "destroy", ev.Plan.Summary.Destroy,
		"needs_reboot", len(ev.Plan.NeedsReboot), "build", res.Duration.Round(time.Millisecond))
}

// reject remembers an invalid commit (a *ConfigError) as the rejected
// one: it is not evaluated again until a new commit.
func (r *Reconciler) reject(commit *gitsrc.Commit, err error) {
	if ce := (*ConfigError)(nil); errors.As(err, &ce) {
		r.rejected = ce
		r.logRejected(commit, err)
	}
}

// record makes inv the running inventory, in memory and on disk.
func (r *Reconciler) record(inv *Inventory) error {
	inv.Vars = nil
	if len(r.cfg.Vars) > 0 {
		inv.Vars = maps.Clone(r.cfg.Vars)
	}
	data, err := inv.Encode()
	if err != nil {
		return err
	}
	r.running = inv
	if err := writeInventory(r.cfg.StateDir, inv, data); err != nil {
		r.publish(data, false)
		r.dirty = true
		return err
	}
	r.publish(data, true)
	r.dirty = false
	return nil
}

// desire loads and validates a commit and computes its desired state
// (steps: verify, load, pick the server, compute input keys and examine
// images).
func (r *Reconciler) desire(ctx context.Context, commit *gitsrc.Commit, loaded *loadedCommit) (*hclspec.Cluster, *hclspec.Server, *Inventory, error) {
	r.loads.Add(1)
	if r.cfg.Verify != nil {
		if err := r.cfg.Verify(commit); err != nil {
			return nil, nil, nil, &ConfigError{Commit: commit.Hash, Diags: hcl.Diagnostics{{
				Severity: hcl.DiagError, Summary: "Untrusted commit", Detail: err.Error(),
			}}}
		}
	}
	var cluster *hclspec.Cluster
	var srv *hclspec.Server
	var desired *Inventory
	var err error
	if r.reuseLoaded(commit, loaded) {
		cluster, srv = loaded.cluster, loaded.srv
		if loaded.inputs != nil {
			desired, err = desireFrom(commit, cluster, srv, loaded.inputs.ReexamineImages(cluster), true)
		} else {
			desired, err = Desire(commit, cluster, srv, true)
		}
		if err != nil {
			return nil, nil, nil, repoError(commit.Hash, cluster, err)
		}
		if r.evalCache == nil && loaded.cache != nil && loaded.cache.Path() == filepath.Join(r.cfg.StateDir, EvalCacheFile) {
			r.evalCache = loaded.cache // saved below, in the state directory that exists now
		}
	} else if cluster, srv, desired, err = desireCommit(ctx, commit, r.cfg.Vars, r.cfg.Server, r.cfg.Roots, r.cache()); err != nil {
		return nil, nil, nil, err
	}
	desired.keyAssetKeys(r.assetSecret)
	r.saveCache()
	if r.cfg.Builder != nil {
		if desired.Agent, err = r.cfg.Builder.AgentDigest(); err != nil {
			return nil, nil, nil, err
		}
	}
	for name, is := range desired.Images {
		if is.Unknown {
			// The image source lives on the server: a missing or unreadable
			// one may come back (transient), unlike a bad commit.
			return nil, nil, nil, fmt.Errorf("image %s (source %s): %w", name, is.Source, is.err)
		}
	}
	return cluster, srv, desired, nil
}

// reuseLoaded reports whether loaded, the commit as a plan loaded it in
// this process, is what loading commit would give here: the same commit,
// variables and server block, and the server paths it names within the
// roots. Then desire takes it instead of loading the commit again.
func (r *Reconciler) reuseLoaded(commit *gitsrc.Commit, loaded *loadedCommit) bool {
	if loaded == nil || loaded.commit != commit.Hash || !maps.Equal(loaded.vars, r.cfg.Vars) {
		return false
	}
	if srv, err := loaded.cluster.PickServer(r.cfg.Server); err != nil || srv != loaded.srv {
		return false
	}
	return r.cfg.Roots == nil || !hclspec.CheckRoots(loaded.cluster, loaded.srv, r.cfg.Roots).HasErrors()
}

// desireCommit loads and validates a commit and computes its desired
// state, image sources examined (what desire and PlanCommit share); cache,
// when not nil, is the evaluation cache (hclspec.EvalCache).
func desireCommit(ctx context.Context, commit *gitsrc.Commit, vars map[string]string, server string, roots hclspec.PathChecker, cache *hclspec.EvalCache) (*hclspec.Cluster, *hclspec.Server, *Inventory, error) {
	cluster, srv, err := loadCached(ctx, commit, vars, server, roots, cache)
	if err != nil {
		return nil, nil, nil, err
	}
	desired, err := Desire(commit, cluster, srv, true)
	if err != nil {
		return nil, nil, nil, repoError(commit.Hash, cluster, err)
	}
	return cluster, srv, desired, nil
}
