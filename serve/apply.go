package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// ApplyResult is what an apply reports (also the JSON answer of POST
// /apply).
type ApplyResult struct {
	Commit      string   `json:"commit"`
	Result      string   `json:"result"`
	Add         int      `json:"add"`
	Change      int      `json:"change"`
	Destroy     int      `json:"destroy"`
	NeedsReboot []string `json:"needs_reboot"`
	Error       string   `json:"error,omitempty"`
	Stale       bool     `json:"stale,omitempty"`
}

// ResultOf is the ApplyResult of an evaluation and its error.
func ResultOf(ev reconcile.Evaluation, err error) *ApplyResult {
	r := &ApplyResult{Result: ev.Result, NeedsReboot: []string{}}
	if ev.Commit != nil {
		r.Commit = ev.Commit.Hash
	}
	if ev.Plan != nil {
		r.Add, r.Change, r.Destroy = ev.Plan.Summary.Add, ev.Plan.Summary.Change, ev.Plan.Summary.Destroy
		r.NeedsReboot = ev.Plan.NeedsReboot
	}
	if err != nil {
		r.Error = err.Error()
		var se *reconcile.StaleError
		r.Stale = errors.As(err, &se)
	}
	return r
}

// applyHandler answers POST /apply: it applies the saved plan in the body
// (refused when stale, or when its commit is not on the tracked branch
// unless forced) and answers with the result as JSON. Until ready (the
// boot services run) it refuses with 503: a plan applied then would be
// recorded but never published.
func applyHandler(rec *reconcile.Reconciler, ready func() bool) func(context.Context, []byte) (int, []byte) {
	return func(ctx context.Context, body []byte) (int, []byte) {
		answer := func(code int, r *ApplyResult) (int, []byte) {
			data, _ := json.Marshal(r)
			return code, append(data, '\n')
		}
		if !ready() {
			return answer(http.StatusServiceUnavailable, &ApplyResult{Error: "the server is starting: its boot services are not up yet; try again"})
		}
		p, err := reconcile.DecodePlan(body, "the request body")
		if err != nil {
			return answer(http.StatusBadRequest, &ApplyResult{Error: err.Error()})
		}
		if !httpboot.Forced(ctx) {
			if err := rec.CheckOnBranch(p.Commit); err != nil {
				return answer(http.StatusConflict, &ApplyResult{Commit: p.Commit, Error: err.Error()})
			}
		}
		ev, err := rec.ApplyPlan(ctx, p)
		r := ResultOf(ev, err)
		var se *reconcile.StaleError
		switch {
		case err == nil:
			return answer(http.StatusOK, r)
		case errors.As(err, &se):
			return answer(http.StatusConflict, r)
		case reconcile.IsConfigError(err):
			return answer(http.StatusUnprocessableEntity, r)
		}
		return answer(http.StatusInternalServerError, r)
	}
}

// CommitVerifier returns reconcile.Config.Verify for policy p (nil: every
// commit is accepted). src must be a *gitsrc.Source.
func CommitVerifier(src reconcile.Source, p *gitsrc.Policy) func(*gitsrc.Commit) error {
	if p == nil {
		return nil
	}
	return func(c *gitsrc.Commit) error {
		gs, ok := src.(*gitsrc.Source)
		if !ok {
			return fmt.Errorf("cannot check the signature of commit %s: source %T is not a git repository", c.Short(), src)
		}
		_, err := gs.Verify(c, p)
		return err
	}
}

// CheckPathHandler answers GET /check-path from the server's roots.
func CheckPathHandler(roots hclspec.Roots) func(kind, path string) (bool, []string) {
	return func(kind, path string) (bool, []string) {
		if kind == "ipxe_dir" {
			return roots.CheckIPXEDir(path) == nil, roots.IPXE
		}
		return roots.CheckImageSource(path) == nil, roots.Images
	}
}
