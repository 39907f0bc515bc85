package serve

import (
	"context"
	"time"

	"github.com/gitboot/gitboot/reconcile"
)

// waitTrusted keeps serve up, serving nothing, while neither the applied
// commit nor the branch tip passes the signature policy (the tip was
// refused with ce): it watches the ref and polls until a trusted commit
// applies.
func (s *server) waitTrusted(ctx context.Context, ce *reconcile.ConfigError) (reconcile.Evaluation, error) {
	s.log.Error("nothing is served: the applied commit and the branch tip fail the signature policy; waiting for a trusted commit on the branch",
		"tip", reconcile.Short(ce.Commit), "ref", s.cfg.Ref)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if w, ok := s.src.(watcher); ok {
		go w.WatchOrPoll(wctx, s.cfg.Ref, 100*time.Millisecond, 0, s.log, func() { s.rec.Trigger(false) })
	}
	ev, err := s.rec.WaitApplied(ctx, 2*time.Second)
	if err != nil {
		return ev, err
	}
	s.log.Info("a trusted commit is applied; starting the boot services", "commit", ev.Commit.Short())
	return ev, nil
}
