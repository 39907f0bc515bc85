package status

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
)

// WriteTimeline prints a node's boot timelines, this boot then the previous
// one: each stage with the time since the boot started and the gap since
// the stage before it ("--" for a stage the boot skipped or has not reached),
// and the total.
func WriteTimeline(w io.Writer, r *NodeRecord) error {
	bw := bufio.NewWriter(w)
	for i, b := range []struct {
		title string
		tl    *Timeline
	}{{"this boot", &r.Boot}, {"previous boot", &r.PrevBoot}} {
		if i > 0 {
			bw.WriteByte('\n')
		}
		if b.tl.IsZero() {
			fmt.Fprintf(bw, "%s, %s: none recorded\n", r.Name, b.title)
			continue
		}
		state := "complete"
		switch {
		case !b.tl.InitFailed.IsZero():
			state = "init failed"
		case !b.tl.Complete():
			state = "in progress"
		}
		start := b.tl.Start()
		if start.IsZero() {
			start = b.tl.InitFailed
		}
		fmt.Fprintf(bw, "%s, %s: started %s, %s, total %s\n", r.Name, b.title, start.UTC().Format(time.RFC3339), state, seconds(b.tl.Total()))
		fmt.Fprintf(bw, "  %-20s %10s %10s\n", "STAGE", "AT", "GAP")
		var prev time.Time
		for k, at := range b.tl.At {
			atS, gapS := "--", "--"
			if !at.IsZero() {
				atS = "+" + seconds(at.Sub(start))
				if !prev.IsZero() {
					gapS = "+" + seconds(at.Sub(prev))
				}
				prev = at
			}
			fmt.Fprintf(bw, "  %-20s %10s %10s\n", BootStages[k], atS, gapS)
		}
		if f := b.tl.InitFailed; !f.IsZero() {
			gapS := "--"
			if !prev.IsZero() {
				gapS = "+" + seconds(f.Sub(prev))
			}
			fmt.Fprintf(bw, "  %-20s %10s %10s  %s\n", StageInitFailed, "+"+seconds(f.Sub(start)), gapS, b.tl.InitReason)
		}
	}
	return bw.Flush()
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}
