// Package ratelog writes log lines about unknown and bad requests at a
// bounded rate, so that a flood of garbage (a DHCP storm from an uplink,
// RRQs for files that do not exist, malformed HTTP requests) cannot flood
// the log or spend the server's time formatting lines.
//
// Lines over the rate are dropped and counted; the next line written
// carries the count as suppressed=N, so a reader knows how many were lost
// and when. The boot services (bootsvc/dhcp, bootsvc/tftp,
// bootsvc/httpboot) each keep one Logger for their unknown and bad
// requests; ordinary transfer lines are not rate-limited.
package ratelog

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for New: a burst of 20 lines, then one a second.
const (
	DefaultEvery = time.Second
	DefaultBurst = 20
)

// Logger is a rate-limited front of a *slog.Logger. It is safe for
// concurrent use; its zero value is not usable: make it with New.
type Logger struct {
	log   *slog.Logger
	lim   *rate.Limiter
	burst int
	// pending counts lines dropped since the last written one; total
	// every line dropped.
	pending, total atomic.Uint64
}

// New returns a Logger writing to log at most burst lines at once and one
// every `every` after that. Zero values take the defaults; a nil log is
// slog.Default().
func New(log *slog.Logger, every time.Duration, burst int) *Logger {
	if log == nil {
		log = slog.Default()
	}
	if every <= 0 {
		every = DefaultEvery
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Logger{log: log, lim: rate.NewLimiter(rate.Every(every), burst), burst: burst}
}

// Burst is the number of lines written at once before the rate applies.
func (l *Logger) Burst() int { return l.burst }

// Suppressed is the number of lines dropped since the Logger was made.
func (l *Logger) Suppressed() uint64 { return l.total.Load() }

// Log writes msg at level unless the rate is exceeded, in which case the
// line is counted and dropped. A level the handler does not log costs no
// token and is not counted. It reports whether the line was written.
func (l *Logger) Log(level slog.Level, msg string, args ...any) bool {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return false
	}
	if !l.lim.Allow() {
		l.pending.Add(1)
		l.total.Add(1)
		return false
	}
	if n := l.pending.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(ctx, level, msg, args...)
	return true
}

// Warn is Log at slog.LevelWarn.
func (l *Logger) Warn(msg string, args ...any) bool { return l.Log(slog.LevelWarn, msg, args...) }

// Info is Log at slog.LevelInfo.
func (l *Logger) Info(msg string, args ...any) bool { return l.Log(slog.LevelInfo, msg, args...) }

// Debug is Log at slog.LevelDebug.
func (l *Logger) Debug(msg string, args ...any) bool { return l.Log(slog.LevelDebug, msg, args...) }
