package gitsrc

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// DefaultFallbackPoll is how often WatchOrPoll re-reads the ref once the
// watch failed.
const DefaultFallbackPoll = 2 * time.Second

// WatchOrPoll is Watch that never fails the caller: when the watch cannot
// start (the inotify limit, fs.inotify.max_user_instances or
// max_user_watches, reached) or breaks later, the error is logged and the
// ref is read every poll (DefaultFallbackPoll if zero or less) instead,
// calling notify when it names another commit, until ctx is done. It
// returns when ctx is done; a server keeps every other service running
// whatever happens to the watch.
func (s *Source) WatchOrPoll(ctx context.Context, ref string, debounce, poll time.Duration, log *slog.Logger, notify func()) {
	err := s.Watch(ctx, ref, debounce, notify)
	if ctx.Err() != nil {
		return
	}
	if poll <= 0 {
		poll = DefaultFallbackPoll
	}
	if err == nil {
		// The watcher's channels closed: treat it as a failure too.
		err = errors.New("the inotify watcher closed")
	}
	log.Error("watching the repository's refs failed; polling the ref instead (every other service keeps running)",
		"repo", s.Path, "ref", ref, "poll", poll, "err", err)
	// Something may have moved between the failure and now.
	last := s.tipHash(ref)
	notify()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if h := s.tipHash(ref); h != last {
				last = h
				notify()
			}
		}
	}
}

// tipHash is the commit ref names now, or "" when it cannot be read.
func (s *Source) tipHash(ref string) string {
	c, err := s.Resolve(ref)
	if err != nil {
		return ""
	}
	return c.Hash
}
