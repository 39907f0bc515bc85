package reconcile

import (
	"errors"
	"strings"
	"testing"
)

// A pinned image digest the source does not have is a rejected commit
// (a *ConfigError with a diagnostic at the image block, recorded as
// rejected), not a transient error: a recheck does not build it again
// and the last good state stays served.
func TestReconcileWrongDigestPinRejected(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	snap := e.rec.Snapshot()
	pin := "sha256:" + strings.Repeat("0", 64)
	bad := e.repo.commit(edit(t, baseFiles(), "main.hcl", "  source = var.image\n", "  source = var.image\n  digest = \""+pin+"\"\n"), "pin a digest")
	ev, err := e.once(Options{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Commit != bad || ev.Result != ResultRejected {
		t.Fatalf("wrong pin: result %q, %v; want a rejected commit (*ConfigError)", ev.Result, err)
	}
	if len(ce.Diags) != 1 || ce.Diags[0].Subject == nil || ce.Diags[0].Subject.Filename != "main.hcl" ||
		!strings.Contains(ce.Diags[0].Detail, "digest mismatch") || !strings.Contains(ce.Diags[0].Detail, pin) {
		t.Errorf("diagnostics %v; want one at the image block in main.hcl naming the pin", ce.Diags)
	}
	if e.rec.Snapshot() != snap {
		t.Error("the served snapshot changed")
	}
	n := len(e.evals)
	if _, err := e.once(Options{Recheck: true}); !IsConfigError(err) || len(e.evals) != n {
		t.Errorf("recheck: %v, %d evaluations (was %d): the rejected commit was tried again", err, len(e.evals), n)
	}
}
