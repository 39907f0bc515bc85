package rollout

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// View draws a rollout's progress: on a terminal, a bar per batch
// redrawn in place; otherwise one plain line per change (a batch starting
// or ending, a node's stage, a node done, failed or skipped).
type View struct {
	w     io.Writer
	tty   bool
	quiet bool // --json: nothing until the end
	lines int  // lines of the last frame (tty)
	last  *Progress
}

// NewView draws on w: in place on a terminal (tty), else line by line;
// quiet (JSON output) draws nothing.
func NewView(w io.Writer, tty, quiet bool) *View {
	return &View{w: w, tty: tty, quiet: quiet}
}

const barWidth = 24

// maxBatchLines bounds the batch bars a terminal frame shows: the batch
// running and those just before and after it; the others are summed up.
const maxBatchLines = 6

// shownBatches is the range [first, last) of batches a frame draws.
func shownBatches(p *Progress) (first, last int) {
	n := len(p.Batches)
	if n <= maxBatchLines {
		return 0, n
	}
	cur := 0 // the running batch, else the first pending one, else the last
	for i, b := range p.Batches {
		cur = i
		if b.State == BatchRunning || b.State == BatchPending {
			break
		}
	}
	first = max(0, min(cur-2, n-maxBatchLines))
	return first, first + maxBatchLines
}

// Draw shows p (the view keeps a copy, to draw what changed next).
func (v *View) Draw(p *Progress) {
	switch {
	case v.quiet:
	case v.tty:
		v.frame(p)
	default:
		v.plain(p)
	}
	v.last = p.Clone()
}

// frame redraws the terminal view: a header, a bar per batch, the counts.
func (v *View) frame(p *Progress) {
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.lines)
	}
	lines := []string{fmt.Sprintf("Rollout %s of commit %s: %d node(s) in %d batch(es) of %s, waiting for %s (%s per batch)",
		p.ID, shortCommit(p.Commit), len(p.Nodes), len(p.Batches), p.Batch, p.Wait, p.Timeout)}
	first, last := shownBatches(p)
	if first > 0 {
		lines = append(lines, fmt.Sprintf("batches 1-%d ended", first))
	}
	for i := first; i < last; i++ {
		bp := p.Batches[i]
		done, failed, skipped, total := 0, 0, 0, len(bp.Nodes)
		var rebooting []string
		for _, n := range p.Nodes {
			if n.Batch != i {
				continue
			}
			switch n.State {
			case NodeDone:
				done++
			case NodeFailed:
				failed++
			case NodeSkipped:
				skipped++
			case NodeRebooting:
				rebooting = append(rebooting, n.Name+" ("+dashOr(n.Stage)+")")
			}
		}
		fill := 0
		if total > 0 {
			fill = (done + failed + skipped) * barWidth / total
		}
		bar := strings.Repeat("█", fill) + strings.Repeat("░", barWidth-fill)
		line := fmt.Sprintf("batch %d/%d [%s] %d/%d done", i+1, len(p.Batches), bar, done, total)
		if failed > 0 {
			line += fmt.Sprintf(", %d failed", failed)
		}
		if skipped > 0 {
			line += fmt.Sprintf(", %d off", skipped)
		}
		if len(rebooting) > 0 {
			line += "  rebooting: " + strings.Join(rebooting, ", ")
		} else if bp.State != BatchRunning {
			line += "  " + bp.State
		}
		lines = append(lines, line)
	}
	if last < len(p.Batches) {
		lines = append(lines, fmt.Sprintf("batches %d-%d pending", last+1, len(p.Batches)))
	}
	lines = append(lines, fmt.Sprintf("%s: %d done, %d failed, %d off, %d in all", p.State, p.Done, p.Failed, p.Skipped, len(p.Nodes)))
	for len(lines) < v.lines {
		lines = append(lines, "") // clear what the longer frame before left
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	v.lines = len(lines)
	io.WriteString(v.w, b.String())
}

// plain prints a line for each change since the last progress.
func (v *View) plain(p *Progress) {
	now := time.Now().Format(time.TimeOnly)
	if v.last == nil {
		fmt.Fprintf(v.w, "%s rollout %s of commit %s: %d node(s) in %d batch(es) of %s, waiting for %s\n",
			now, p.ID, shortCommit(p.Commit), len(p.Nodes), len(p.Batches), p.Batch, p.Wait)
	}
	for i, bp := range p.Batches {
		old := BatchPending
		if v.last != nil && i < len(v.last.Batches) {
			old = v.last.Batches[i].State
		}
		if bp.State != old {
			fmt.Fprintf(v.w, "%s batch %d/%d %s: %s\n", now, i+1, len(p.Batches), bp.State, strings.Join(bp.Nodes, ", "))
		}
	}
	for i, n := range p.Nodes {
		var o NodeProgress
		if v.last != nil && i < len(v.last.Nodes) {
			o = v.last.Nodes[i]
		}
		switch {
		case n.State != o.State && n.State != NodePending:
			line := fmt.Sprintf("%s %s %s", now, n.Name, n.State)
			if n.Stage != "" {
				line += " at " + n.Stage
			}
			if n.Reason != "" {
				line += ": " + n.Reason
			}
			fmt.Fprintln(v.w, line)
		case n.State == NodeRebooting && n.Stage != o.Stage && n.Stage != "":
			fmt.Fprintf(v.w, "%s %s at %s\n", now, n.Name, n.Stage)
		}
	}
}

func dashOr(s string) string {
	if s == "" {
		return "--"
	}
	return s
}

// WritePlan prints a dry run: the batches.
func WritePlan(w io.Writer, p *Progress) {
	if len(p.Nodes) == 0 {
		fmt.Fprintf(w, "No node needs a reboot to pick up commit %s.\n", shortCommit(p.Commit))
		return
	}
	fmt.Fprintf(w, "Rollout of commit %s (dry run): %d node(s) in %d batch(es) of %s, each waiting up to %s for %s; halts after more than %d failure(s).\n",
		shortCommit(p.Commit), len(p.Nodes), len(p.Batches), p.Batch, p.Timeout, p.Wait, p.MaxFailures)
	for i, b := range p.Batches {
		fmt.Fprintf(w, "  batch %d: %s\n", i+1, strings.Join(b.Nodes, ", "))
	}
}

// WriteReport prints how a rollout ended and, unless it completed
// cleanly, each node that failed or was not reached.
func WriteReport(w io.Writer, p *Progress) {
	took := ""
	if !p.Ended.IsZero() && !p.Started.IsZero() {
		took = " in " + p.Ended.Sub(p.Started).Round(time.Second).String()
	}
	fmt.Fprintf(w, "Rollout %s of commit %s %s%s: %d done, %d failed, %d off (left off).\n",
		p.ID, shortCommit(p.Commit), p.State, took, p.Done, p.Failed, p.Skipped)
	if p.Reason != "" {
		fmt.Fprintf(w, "Reason: %s\n", p.Reason)
	}
	var rows []NodeProgress
	var untouched []string
	for _, n := range p.Nodes {
		switch n.State {
		case NodeFailed, NodeStopped, NodeRebooting:
			rows = append(rows, n)
		case NodePending:
			untouched = append(untouched, n.Name)
		}
	}
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tSTATE\tLAST STAGE\tLAST SEEN\tWHY")
		for _, n := range rows {
			seen := "never"
			if !n.LastSeen.IsZero() {
				seen = n.LastSeen.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.State, dashOr(n.Stage), seen, n.Reason)
		}
		tw.Flush()
	}
	if len(untouched) > 0 {
		fmt.Fprintf(w, "Not rebooted (left alone): %s\n", strings.Join(untouched, ", "))
	}
}

// shortCommit is the 12 digits of a commit hash a view shows.
func shortCommit(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
