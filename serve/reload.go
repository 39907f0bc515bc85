package serve

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc/metrics"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile"
)

// reloadWatch makes failed reloads visible: it counts them in /metrics
// and hands the last rejected commit, with its diagnostics, to the status
// store (GET /status, gitboot status) until a newer commit is applied.
type reloadWatch struct {
	m     *metrics.Metrics
	store atomic.Pointer[status.Store] // set once the services start
	last  atomic.Pointer[status.Rejection]
}

// setStore starts showing rejections in store (and the one seen before).
func (w *reloadWatch) setStore(s *status.Store) {
	w.store.Store(s)
	s.SetRejected(w.last.Load())
}

// evaluated records one evaluation (the reconciler's OnEvaluated).
func (w *reloadWatch) evaluated(ev reconcile.Evaluation) {
	var r *status.Rejection
	switch ev.Result {
	case reconcile.ResultApplied, reconcile.ResultUnchanged:
		// A newer commit is served: the last rejection is history.
	case reconcile.ResultRejected:
		var ce *reconcile.ConfigError
		if !errors.As(ev.Err, &ce) {
			return
		}
		reason := metrics.ReloadInvalid
		if ce.TooExpensive {
			reason = metrics.ReloadTooExpensive
		}
		r = rejection(ev, ce, time.Now())
		w.m.ReloadFailed(reason, r.At)
	case reconcile.ResultError:
		if !errors.Is(ev.Err, context.Canceled) { // stopping is no failure
			w.m.ReloadFailed(metrics.ReloadError, time.Now())
		}
		return
	default:
		return
	}
	w.last.Store(r)
	if s := w.store.Load(); s != nil {
		s.SetRejected(r)
	}
}

// rejection turns a rejected evaluation into what /status shows.
func rejection(ev reconcile.Evaluation, ce *reconcile.ConfigError, now time.Time) *status.Rejection {
	r := &status.Rejection{Commit: ce.Commit, At: now}
	if ev.Commit != nil {
		r.Subject = ev.Commit.Subject
	}
	for _, d := range ce.Diags {
		sd := status.Diagnostic{Summary: d.Summary, Detail: d.Detail}
		if d.Subject != nil {
			sd.File, sd.Line, sd.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		r.Diagnostics = append(r.Diagnostics, sd)
	}
	r.Reason = ce.Error()
	r.Summarize()
	return r
}
