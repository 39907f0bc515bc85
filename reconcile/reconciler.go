package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// ConfigError is a commit whose configuration is invalid: only a new
// commit fixes it. Files holds the parsed sources for showing snippets.
type ConfigError struct {
	Commit string
	Diags  hcl.Diagnostics
	Files  map[string]*hcl.File
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("commit %s is invalid: %s", short(e.Commit), e.Diags.Error())
}

// Config configures a Reconciler.
type Config struct {
	Source  *gitsrc.Source
	Ref     string            // branch, tag or commit; default "main"
	Server  string            // server block to serve; "" when there is one
	Vars    map[string]string // --var values
	Builder *artifact.Builder
	Logger  *slog.Logger
}

// Applied is the state one successful reconcile produced.
type Applied struct {
	Commit   *gitsrc.Commit
	Cluster  *hclspec.Cluster
	Server   *hclspec.Server
	Result   *artifact.Result
	Snapshot *bootsvc.Snapshot
	At       time.Time
}

// Reconciler turns the tip of the tracked ref into a snapshot. It is
// steppable: the caller decides when ReconcileOnce runs (at start, on
// SIGHUP, and later from the watch loop).
type Reconciler struct {
	cfg  Config
	mu   sync.Mutex
	last *Applied
}

// New makes a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Ref == "" {
		cfg.Ref = "main"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Reconciler{cfg: cfg}
}

// Last returns the last applied state, or nil.
func (r *Reconciler) Last() *Applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// ReconcileOnce resolves the ref and, when its content changed, loads,
// builds and snapshots it. It returns the applied state and whether it is
// new. On error the last applied state is unchanged; a *ConfigError means
// the commit itself is invalid.
func (r *Reconciler) ReconcileOnce(ctx context.Context) (*Applied, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	commit, err := r.cfg.Source.Resolve(r.cfg.Ref)
	if err != nil {
		return r.last, false, err
	}
	if r.last != nil && r.last.Commit.Hash == commit.Hash {
		return r.last, false, nil
	}
	parser := hclparse.NewParser()
	cluster, diags := hclspec.Load(commit.FS, hclspec.Options{Vars: r.cfg.Vars, Parser: parser})
	if diags.HasErrors() {
		return r.last, false, &ConfigError{Commit: commit.Hash, Diags: diags, Files: parser.Files()}
	}
	srv, err := PickServer(cluster, r.cfg.Server)
	if err != nil {
		return r.last, false, &ConfigError{Commit: commit.Hash, Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "No server to serve", Detail: err.Error(),
		}}}
	}
	if r.last != nil && r.last.Cluster.Hash == cluster.Hash && r.last.Server.Name == srv.Name {
		// Same desired state (a comment-only commit): nothing to apply.
		applied := *r.last
		applied.Commit = commit
		r.last = &applied
		r.cfg.Logger.Info("commit changes nothing served", "commit", commit.Short())
		return r.last, false, nil
	}
	res, err := r.cfg.Builder.Build(ctx, cluster, srv.Name)
	if err != nil {
		return r.last, false, fmt.Errorf("building commit %s: %w", commit.Short(), err)
	}
	if err := r.cfg.Builder.Commit(res); err != nil {
		return r.last, false, fmt.Errorf("recording build of commit %s: %w", commit.Short(), err)
	}
	if _, _, err := r.cfg.Builder.GC(); err != nil {
		r.cfg.Logger.Warn("artifact garbage collection failed", "err", err)
	}
	r.last = &Applied{
		Commit: commit, Cluster: cluster, Server: srv, Result: res,
		Snapshot: Snapshot(cluster, srv, res, commit.Hash), At: time.Now(),
	}
	r.cfg.Logger.Info("applied commit", "commit", commit.Short(), "subject", commit.Subject,
		"nodes", len(r.last.Snapshot.Nodes), "built", res.Built, "reused", res.Reused, "duration", res.Duration.Round(time.Millisecond))
	return r.last, true, nil
}

// IsConfigError reports whether err means the commit itself is invalid.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
