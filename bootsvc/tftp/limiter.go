package tftp

import (
	"sync"
	"time"
)

// limiter allows burst events per window and counts the ones it drops, so
// bad input cannot flood the log.
type limiter struct {
	burst  int
	window time.Duration

	mu      sync.Mutex
	start   time.Time
	used    int
	dropped int
}

// allow reports whether an event at now may be logged and, when it may,
// how many were dropped since the last allowed one.
func (l *limiter) allow(now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.window {
		l.start, l.used = now, 0
	}
	if l.used >= l.burst {
		l.dropped++
		return false, 0
	}
	l.used++
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}
