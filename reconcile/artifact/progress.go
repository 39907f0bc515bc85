package artifact

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress reports an image build's bytes: a redrawn bar (bytes, rate,
// ETA) when w is a terminal, else a plain line every 10 %.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	label   string
	total   int64
	done    int64
	start   time.Time
	last    time.Time
	lastPct int64
}

func newProgress(w io.Writer, label string, total int64) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, label: label, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// add records n more bytes. A nil progress does nothing.
func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) >= 100*time.Millisecond {
			p.last = now
			p.draw(now, false)
		}
		return
	}
	if p.total > 0 {
		if pct := p.done * 100 / p.total / 10 * 10; pct > p.lastPct && pct < 100 {
			p.lastPct = pct
			fmt.Fprintf(p.w, "%s: %d%% %s of %s, %s/s\n", p.label, pct, size(p.done), size(p.total), size(p.rate(now)))
		}
	}
}

// finish prints the final line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.tty {
		p.draw(now, true)
		fmt.Fprintln(p.w)
		return
	}
	fmt.Fprintf(p.w, "%s: done, %s in %s, %s/s\n", p.label, size(p.done), now.Sub(p.start).Round(time.Millisecond), size(p.rate(now)))
}

func (p *progress) rate(now time.Time) int64 {
	el := now.Sub(p.start).Seconds()
	if el <= 0 {
		return 0
	}
	return int64(float64(p.done) / el)
}

func (p *progress) draw(now time.Time, final bool) {
	const width = 30
	frac := 1.0
	if p.total > 0 && !final {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	fill := int(frac * width)
	eta := "--"
	if r := p.rate(now); r > 0 && p.total > p.done {
		eta = time.Duration(float64(p.total-p.done) / float64(r) * float64(time.Second)).Round(time.Second).String()
	}
	if final {
		eta = "0s"
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %s/%s %s/s ETA %s  ", p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		int(frac*100), size(p.done), size(p.total), size(p.rate(now)), eta)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
