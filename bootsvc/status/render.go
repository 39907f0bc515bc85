package status

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/internal/macaddr"
)

// ANSI colours for stale rows.
const (
	colourYellow = "\x1b[33m"
	colourRed    = "\x1b[31m"
	colourReset  = "\x1b[0m"
)

// DefaultInterval is the runtime pull interval assumed when a report has
// none.
const DefaultInterval = 60 * time.Second

// Age returns how long ago the row's node was last seen, relative to now,
// and false if it was never seen.
func (r *NodeRecord) Age(now time.Time) (time.Duration, bool) {
	if r.LastSeen.IsZero() {
		return 0, false
	}
	d := now.Sub(r.LastSeen)
	if d < 0 {
		d = 0
	}
	return d, true
}

// Staleness classifies a last-seen age: 0 fresh, 1 late (>= interval+5 s,
// yellow), 2 lost (>= 2x interval, red).
func Staleness(age, interval time.Duration) int {
	if interval <= 0 {
		interval = DefaultInterval
	}
	switch {
	case age >= 2*interval:
		return 2
	case age >= interval+5*time.Second:
		return 1
	}
	return 0
}

// RebootMark follows the stage of a node that needs a reboot in the table.
const RebootMark = "*"

// WriteTable prints the report's rows as the status table, ages counted
// from rep.Now. With colour, late rows are yellow and lost rows red. A
// node that needs a reboot has RebootMark after its stage, and a footer
// line counts them.
func WriteTable(w io.Writer, rep *Report, colour bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%-20s %-20s %-25s %s\n", "NODENAME", "STAGE", "SENT", "LASTSEEN (s)")
	interval := time.Duration(rep.IntervalSeconds) * time.Second
	for i := range rep.Nodes {
		r := &rep.Nodes[i]
		stage, sent, seen := "--", "--", "--"
		if r.Stage != "" {
			stage, sent = string(r.Stage), dash(r.Sent)
		}
		if r.Error != nil {
			stage, sent = string(r.Error.Stage), dash(r.Error.Sent)
		}
		if r.NeedsReboot {
			stage += RebootMark
		}
		age, ok := r.Age(rep.Now)
		if ok {
			seen = strconv.FormatInt(int64(age/time.Second), 10)
		}
		line := fmt.Sprintf("%-20s %-20s %-25s %s", r.Name, stage, sent, seen)
		if colour && ok {
			switch Staleness(age, interval) {
			case 1:
				line = colourYellow + line + colourReset
			case 2:
				line = colourRed + line + colourReset
			}
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	writeReasons(bw, rep)
	if n := rep.Reboots(); n > 0 {
		nodes, them := "nodes run", "them"
		if n == 1 {
			nodes, them = "node runs", "it"
		}
		fmt.Fprintf(bw, "\n%s %d %s an older commit's boot artifacts: reboot %s to pick up %s\n",
			RebootMark, n, nodes, them, ShortCommit(rep.Commit))
	}
	return bw.Flush()
}

// writeReasons prints, below the table, why each node whose pending error
// carries the node's own reason (INIT_FAILED) failed: one line each.
func writeReasons(bw *bufio.Writer, rep *Report) {
	first := true
	for i := range rep.Nodes {
		e := rep.Nodes[i].Error
		if e == nil || e.Reason == "" {
			continue
		}
		if first {
			bw.WriteByte('\n')
			first = false
		}
		fmt.Fprintf(bw, "%s: %s: %s\n", rep.Nodes[i].Name, e.Stage, e.Reason)
	}
}

// ShortCommit abbreviates a commit hash as git does (7 digits); an empty
// one reads "the applied commit".
func ShortCommit(c string) string {
	switch {
	case c == "":
		return "the applied commit"
	case len(c) > 7:
		return c[:7]
	}
	return c
}

func dash(s string) string {
	if s == "" {
		return "--"
	}
	return s
}

// WriteUnknown prints the unknown MACs of the report, each with a node block
// ready to paste into the repository's HCL.
func WriteUnknown(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	if len(rep.Unknown) == 0 {
		fmt.Fprintln(bw, "# no unknown MACs seen")
		return bw.Flush()
	}
	for i, u := range rep.Unknown {
		if i > 0 {
			bw.WriteByte('\n')
		}
		ago := int64(rep.Now.Sub(u.LastSeen) / time.Second)
		if ago < 0 {
			ago = 0
		}
		addr := "--"
		if u.Addr.IsValid() {
			addr = u.Addr.String()
		}
		fmt.Fprintf(bw, "# %s seen %d time(s), last %ds ago from %s (%s)\n", u.MAC, u.Count, ago, addr, u.Stage)
		fmt.Fprintf(bw, "node %q {\n", SuggestName(u.MAC))
		fmt.Fprintf(bw, "  mac      = %q\n", u.MAC)
		if u.Addr.IsValid() {
			fmt.Fprintf(bw, "  ip       = %q # the address it used: pick a free one outside dynamic_range\n", u.Addr.String())
		} else {
			fmt.Fprintf(bw, "  ip       = %q # pick a free address\n", "")
		}
		fmt.Fprintf(bw, "  profiles = [profile.compute] # pick its profiles\n")
		fmt.Fprintf(bw, "}\n")
	}
	return bw.Flush()
}

// SuggestName is the node name offered for an unknown MAC: "n" and its hex
// digits, e.g. "n525400aabbcc". A MAC that is not one (never recorded by
// the boot services) is used as it is, without its colons.
func SuggestName(mac string) string {
	if c, ok := macaddr.Canonical(mac); ok {
		mac = c
	}
	return "n" + strings.ReplaceAll(mac, ":", "")
}
