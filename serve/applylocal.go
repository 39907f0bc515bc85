package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// LocalConfig is a state directory no server runs on, and the repository
// its plans are applied from (gitboot apply --state).
type LocalConfig struct {
	Repo, Ref, State string
	Server           string // server block ("": the plan's)
	Vars             map[string]string
	Roots            hclspec.Roots
	Logger           *slog.Logger
	// Policy is the signature policy enforced (the one bound to State;
	// nil: every commit is accepted). The applied state restored first is
	// verified against it too: an untrusted one is replaced by the plan.
	Policy *gitsrc.Policy
	Force  bool // apply a commit that is not on Ref too

	// AgeIdentities decrypt the repository's secrets (see Config).
	AgeIdentities []string
}

// ApplyLocal applies a saved plan to cfg.State itself, holding its lock
// (no server runs on it), as a server would: the next gitboot serve on
// that directory serves it. An invalid commit is a
// *reconcile.ConfigError; a stale plan a *reconcile.StaleError.
func ApplyLocal(ctx context.Context, cfg LocalConfig, p *reconcile.Plan) (reconcile.Evaluation, error) {
	var none reconcile.Evaluation
	if err := os.MkdirAll(cfg.State, 0o700); err != nil {
		return none, fmt.Errorf("creating state directory: %w", err)
	}
	unlock, err := LockState(cfg.State)
	if err != nil {
		return none, err
	}
	defer unlock()
	src, err := gitsrc.Open(cfg.Repo)
	if err != nil {
		return none, err
	}
	// The system overlays carry the state directory's CA and overlay key,
	// as serve's do (a server started with --tls-cert rebuilds them with
	// its own at its first pass).
	trust, err := loadTrust(Config{State: cfg.State})
	if err != nil {
		return none, err
	}
	secrets, err := agesecret.Open(cfg.State, cfg.AgeIdentities, true)
	if err != nil {
		return none, err
	}
	// CheckOnUse: this process applies once; the store's artifacts are
	// checked as the build reuses them, not all of them first.
	builder, err := artifact.New(artifact.Config{StateDir: cfg.State, Logger: cfg.Logger, Trust: artifactTrust(trust), Secrets: secrets, CheckOnUse: true})
	if err != nil {
		return none, err
	}
	// The agent's digest (a 7 MB read and hash) beside the restore: the
	// apply's own call finds it kept (errors are that call's to report).
	go func() { _, _ = builder.AgentDigest() }()
	block := cfg.Server
	if block == "" && p.Desired != nil {
		block = p.Desired.Server.Name
	}
	rec := reconcile.New(reconcile.Config{Source: src, Ref: cfg.Ref, Server: block, Vars: cfg.Vars, Builder: builder,
		StateDir: cfg.State, Logger: cfg.Logger, Roots: cfg.Roots, Verify: CommitVerifier(src, cfg.Policy), OneShot: true, Prior: p.RunningRead()})
	var untrusted *reconcile.UntrustedStateError
	if _, err := rec.Restore(); errors.As(err, &untrusted) {
		cfg.Logger.Warn("the applied state fails the signature policy; applying the plan replaces it", "err", err)
	} else if err != nil {
		return none, err
	}
	if !cfg.Force {
		if err := rec.CheckOnBranch(p.Commit); err != nil {
			return none, err
		}
	}
	return rec.ApplyPlan(ctx, p)
}
