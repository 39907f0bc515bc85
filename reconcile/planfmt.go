package reconcile

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ANSI colours for WriteText, as terraform uses them.
const (
	colGreen  = "\x1b[32m"
	colYellow = "\x1b[33m"
	colRed    = "\x1b[31m"
	colCyan   = "\x1b[36m"
	colBold   = "\x1b[1m"
	colReset  = "\x1b[0m"
)

// WriteText prints the plan for people, in terraform's grammar: `+`
// create, `~` update (each changed attribute `old -> new`), `-` destroy,
// `-/+` replace; then the nodes that need a reboot and the summary line.
// color adds ANSI colours (only for a terminal).
func (p *Plan) WriteText(w io.Writer, color bool) error {
	bw := bufio.NewWriter(w)
	c := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + colReset
	}
	prior := "nothing applied yet"
	if p.PriorCommit != "" {
		prior = "running " + Short(p.PriorCommit)
	}
	subject := ""
	if p.Subject != "" {
		subject = fmt.Sprintf(" %q", p.Subject)
	}
	fmt.Fprintf(bw, "Plan for commit %s%s (%s)\n", Short(p.Commit), subject, prior)
	if !p.HasChanges() {
		fmt.Fprintf(bw, "\n%s The running state matches the commit.\n", c(colGreen+colBold, "No changes."))
		p.writeUnknown(bw)
		return bw.Flush()
	}
	fmt.Fprintln(bw)
	for _, rc := range p.ResourceChanges {
		var sym, col, note string
		switch {
		case len(rc.Actions) == 2:
			sym, col, note = "-/+", colRed, " (replaced: "+replaceReason(rc)+")"
		case rc.Actions[0] == ActCreate:
			sym, col = "+", colGreen
		case rc.Actions[0] == ActDelete:
			sym, col = "-", colRed
		default:
			sym, col = "~", colYellow
		}
		fmt.Fprintf(bw, "%s %s%s\n", c(col, fmt.Sprintf("%3s", sym)), c(colBold, rc.Address), note)
		if rc.Actions[0] == ActDelete && len(rc.Actions) == 1 {
			continue
		}
		width := 0
		for _, a := range rc.Attributes {
			width = max(width, len(a.Name))
		}
		for _, a := range rc.Attributes {
			switch {
			case rc.Actions[0] == ActCreate && len(rc.Actions) == 1:
				fmt.Fprintf(bw, "      %s %-*s = %s\n", c(colGreen, "+"), width, a.Name, a.New)
			case a.Name == "system_overlay" || a.Name == "runtime_overlay":
				fmt.Fprintf(bw, "      %s %-*s : %s\n", c(colYellow, "~"), width, a.Name, a.New)
			case a.Old == a.New:
				fmt.Fprintf(bw, "        %-*s = %s\n", width, a.Name, a.New)
			case a.Old == "":
				fmt.Fprintf(bw, "      %s %-*s = %s\n", c(colGreen, "+"), width, a.Name, a.New)
			case a.New == "":
				fmt.Fprintf(bw, "      %s %-*s = %s\n", c(colRed, "-"), width, a.Name, a.Old)
			default:
				fmt.Fprintf(bw, "      %s %-*s = %s -> %s\n", c(colYellow, "~"), width, a.Name, a.Old, a.New)
			}
		}
	}
	if len(p.NeedsReboot) > 0 {
		fmt.Fprintf(bw, "\n%s (kernel, image, kernel args or system overlay change; a runtime overlay change needs none):\n",
			c(colCyan+colBold, fmt.Sprintf("Needs reboot: %d node(s)", len(p.NeedsReboot))))
		writeWrapped(bw, p.NeedsReboot)
	}
	p.writeUnknown(bw)
	fmt.Fprintf(bw, "\n%s %d to add, %d to change, %d to destroy.\n", c(colBold, "Plan:"), p.Summary.Add, p.Summary.Change, p.Summary.Destroy)
	return bw.Flush()
}

func (p *Plan) writeUnknown(w io.Writer) {
	if len(p.Unknown) == 0 {
		return
	}
	var addrs []string
	for _, n := range p.Unknown {
		addrs = append(addrs, "image."+n)
	}
	fmt.Fprintf(w, "\nImage content %s: %s (the image source is not readable here; the server checks it).\n",
		knownAfterApply, strings.Join(addrs, ", "))
}

func replaceReason(rc ResourceChange) string {
	if rc.Type == "node" {
		return "MAC changed"
	}
	return "renamed"
}

// writeWrapped prints names comma-separated in lines of at most ~100
// columns.
func writeWrapped(w io.Writer, names []string) {
	line := "  "
	for i, n := range names {
		item := n
		if i < len(names)-1 {
			item += ","
		}
		if len(line)+len(item)+1 > 100 && line != "  " {
			fmt.Fprintln(w, line)
			line = "  "
		}
		if line != "  " {
			line += " "
		}
		line += item
	}
	fmt.Fprintln(w, line)
}
