package serve

import (
	"errors"
	"log/slog"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/bootsvc/webui"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/hashicorp/hcl/v2"
)

// newUI creates the web status page (GET /, GET /events) showing store and
// the snapshot snapshot returns, its header filled from the running
// inventory.
func newUI(log *slog.Logger, store *status.Store, snapshot func() *bootsvc.Snapshot, inv *reconcile.Inventory) *webui.UI {
	ui := webui.New(webui.Config{Status: store, Snapshot: snapshot, Logger: log.With("svc", "webui")})
	if inv != nil && inv.Commit != "" {
		ui.Applied(webui.Commit{Hash: inv.Commit, Subject: inv.Subject, Author: inv.Author, When: inv.CommittedAt, At: inv.AppliedAt})
	}
	return ui
}

// uiEvaluated tells the page about an evaluated commit (the reconciler's
// OnEvaluated hook): the commit served, or a rejected one with its
// diagnostics.
func uiEvaluated(ui *webui.UI, ev reconcile.Evaluation) {
	if ui == nil || ev.Commit == nil {
		return
	}
	c := webui.Commit{Hash: ev.Commit.Hash, Subject: ev.Commit.Subject, Author: ev.Commit.Author, When: ev.Commit.When, At: time.Now()}
	switch ev.Result {
	case reconcile.ResultApplied, reconcile.ResultUnchanged:
		ui.Applied(c)
	case reconcile.ResultRejected:
		var diags []webui.Diag
		for _, d := range errorDiags(ev.Err) {
			diags = append(diags, webui.Diag{File: d.file, Line: d.line, Summary: d.summary})
		}
		ui.Rejected(c, diags)
	}
}

// diagLine is one error diagnostic of a rejected commit, as notes and the
// status page show it.
type diagLine struct {
	file      string
	line, col int
	summary   string // the summary, and the first line of the detail
}

// errorDiags returns the error diagnostics of a *reconcile.ConfigError
// (none for any other error).
func errorDiags(err error) []diagLine {
	var ce *reconcile.ConfigError
	if !errors.As(err, &ce) {
		return nil
	}
	var out []diagLine
	for _, d := range ce.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		var l diagLine
		if d.Subject != nil {
			l.file, l.line, l.col = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		l.summary = d.Summary
		if d.Detail != "" {
			l.summary += ": " + firstLine(d.Detail)
		}
		out = append(out, l)
	}
	return out
}
