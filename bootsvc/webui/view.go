package webui

import (
	"html/template"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/nodeblock"
)

// view is everything one rendering of the page (or of its parts) shows.
type view struct {
	Server   string
	Address  string
	Applied  Commit
	Rejected *Commit
	Diags    []Diag
	Rollout  *rolloutView
	NowMS    int64
	Interval int64 // seconds
	Total    int
	Counts   []countView
	Rows     []rowView
	RowsHTML template.HTML // the table's rows (row.go)
	Reboots  int
	Hist     histView
	Unknown  []unknownView
	HCL      string // the proposed node blocks of every unknown MAC
	HCLErr   string // why no blocks could be proposed
	Node     *nodeView
	Selected string
	StyleCSS template.CSS
	ScriptJS template.JS
}

type countView struct {
	Stage string
	Class string
	N     int
	Pct   float64
}

type rowView struct {
	Name   string
	Stage  string
	Class  string // stage colour class
	Sent   string
	Seen   string // seconds since last seen, "--" never
	SeenMS int64  // unix ms, 0 never
	Stale  int    // 0 fresh, 1 late, 2 lost
	Reboot bool
	Reason string // the node's own account of its error (INIT_FAILED)
}

type histView struct {
	Buckets []bucketView
	N       int
	Min     string
	Median  string
	Max     string
}

type bucketView struct {
	Label string
	N     int
	Pct   float64
}

type unknownView struct {
	MAC       string
	Addr      string
	Stage     string
	Sent      string
	FirstSeen string
	LastSeen  string
	Count     int64
	Name      string // the proposed node's name
	HCL       string // its proposed block
}

type nodeView struct {
	Name     string
	MAC      string
	Addr     string
	Booted   string
	BMC      string // "ipmi 10.98.8.21:623"; empty: no bmc block
	Boot     timelineView
	PrevBoot timelineView
	Found    bool
}

type timelineView struct {
	Steps      []stepView
	InitFailed string // the reason /init reported INIT_FAILED in this boot ("" none)
	Total      string
	Complete   bool
	Start      string
}

type stepView struct {
	Stage string
	At    string
	Gap   string
	Pct   float64 // where the step lies in the boot, 0-100
}

// stageClass is the CSS class of a stage (one colour per stage; errors red).
func stageClass(s status.Stage) string {
	switch s {
	case "":
		return "s-none"
	case status.StageNotFound, status.StageBadRequest, status.StageDenied, status.StageInitFailed:
		return "s-err"
	}
	for i, b := range status.BootStages {
		if b == s {
			return "s" + strconv.Itoa(i)
		}
	}
	return "s-none"
}

// snapInfo is what the page needs of the snapshot.
func snapInfo(snap *bootsvc.Snapshot) (names []string, server, addr string, interval time.Duration) {
	interval = status.DefaultInterval
	if snap == nil {
		return nil, "", "", interval
	}
	names = make([]string, len(snap.Nodes))
	for i := range snap.Nodes {
		names[i] = snap.Nodes[i].Name
	}
	if snap.Server.RuntimeInterval > 0 {
		interval = snap.Server.RuntimeInterval
	}
	return names, snap.Server.Name, snap.Server.HTTPBase(), interval
}

// rowOf turns a node record into its table row, ages counted from now.
func rowOf(r *status.NodeRecord, now time.Time, interval time.Duration) rowView {
	v := rowView{Name: r.Name, Stage: "--", Sent: "--", Seen: "--", Class: "s-none", Reboot: r.NeedsReboot}
	if r.Stage != "" {
		v.Stage, v.Class, v.Sent = string(r.Stage), stageClass(r.Stage), dash(r.Sent)
	}
	if r.Error != nil {
		v.Stage, v.Class, v.Sent = string(r.Error.Stage), "s-err", dash(r.Error.Sent)
		if r.Error.Reason != "" {
			v.Reason, v.Sent = r.Error.Reason, clip(r.Error.Reason, maxSentCell)
		}
	}
	if age, ok := r.Age(now); ok {
		v.Seen = strconv.FormatInt(int64(age/time.Second), 10)
		v.SeenMS = r.LastSeen.UnixMilli()
		v.Stale = status.Staleness(age, interval)
	}
	return v
}

// maxSentCell is the most characters of a reason the SENT cell shows (a
// row is one line high); the whole reason is the cell's title.
const maxSentCell = 60

// clip shortens s to n characters, marking a cut with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "--"
	}
	return s
}

// countsOf is the stage bar: the count of each stage, in boot order, then
// errors, then never seen.
func countsOf(rows []rowView) []countView {
	by := map[string]int{}
	for i := range rows {
		by[rows[i].Stage]++
	}
	var out []countView
	add := func(stage, class string) {
		if n := by[stage]; n > 0 {
			out = append(out, countView{Stage: stage, Class: class, N: n, Pct: 100 * float64(n) / float64(len(rows))})
		}
	}
	for i, s := range status.BootStages {
		add(string(s), "s"+strconv.Itoa(i))
	}
	for _, s := range []status.Stage{status.StageNotFound, status.StageBadRequest, status.StageDenied, status.StageInitFailed} {
		add(string(s), "s-err")
	}
	add("--", "s-none")
	return out
}

// histBounds are the upper bounds of the boot time histogram's buckets.
var histBounds = []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second,
	30 * time.Second, 45 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute, 5 * time.Minute}

// histOf is the histogram of the total times of each node's last complete
// boot.
func histOf(recs []status.NodeRecord) histView {
	var totals []time.Duration
	for i := range recs {
		if tl, ok := recs[i].LastBoot(); ok {
			totals = append(totals, tl.Total())
		}
	}
	h := histView{N: len(totals)}
	if len(totals) == 0 {
		return h
	}
	sort.Slice(totals, func(i, j int) bool { return totals[i] < totals[j] })
	h.Min, h.Median, h.Max = secs(totals[0]), secs(totals[len(totals)/2]), secs(totals[len(totals)-1])
	counts := make([]int, len(histBounds)+1)
	for _, d := range totals {
		i := sort.Search(len(histBounds), func(i int) bool { return d < histBounds[i] })
		counts[i]++
	}
	// Buckets from the first to the last non-empty one.
	first, last := 0, len(counts)-1
	for counts[first] == 0 {
		first++
	}
	for counts[last] == 0 {
		last--
	}
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	lo := "0"
	for i, c := range counts {
		label := "≥ " + secs(histBounds[len(histBounds)-1])
		if i < len(histBounds) {
			label = lo + "–" + secs(histBounds[i])
			lo = strconv.FormatFloat(histBounds[i].Seconds(), 'f', -1, 64)
		}
		if i >= first && i <= last {
			h.Buckets = append(h.Buckets, bucketView{Label: label, N: c, Pct: 100 * float64(c) / float64(most)})
		}
	}
	return h
}

// secs formats a duration in seconds with one decimal.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

// timelineOf shows one boot.
func timelineOf(tl status.Timeline) timelineView {
	v := timelineView{Complete: tl.Complete()}
	if tl.IsZero() {
		return v
	}
	total := tl.Total()
	start := tl.Start()
	v.Total, v.Start = secs(total), start.UTC().Format(time.RFC3339)
	for _, s := range tl.Steps() {
		sv := stepView{Stage: string(s.Stage), At: "+" + secs(s.At.Sub(start)), Gap: "--"}
		if s.At != start {
			sv.Gap = "+" + secs(s.Gap)
		}
		if total > 0 {
			sv.Pct = 100 * float64(s.At.Sub(start)) / float64(total)
		}
		v.Steps = append(v.Steps, sv)
	}
	if f := tl.InitFailed; !f.IsZero() {
		v.InitFailed = tl.InitReason
		if v.InitFailed == "" {
			v.InitFailed = "(no reason given)"
		}
		sv := stepView{Stage: string(status.StageInitFailed), At: "+" + secs(f.Sub(start)), Gap: "--", Pct: 100}
		if n := len(tl.Steps()); n > 0 {
			sv.Gap = "+" + secs(f.Sub(tl.Steps()[n-1].At))
		}
		if t := f.Sub(start); t > 0 && total < t {
			v.Total = secs(t)
		}
		v.Steps = append(v.Steps, sv)
	}
	return v
}

// nodeOf is the timeline panel of one node.
func nodeOf(store *status.Store, snap *bootsvc.Snapshot, name string) *nodeView {
	v := &nodeView{Name: name}
	n, declared := snap.NodeByName(name)
	if !declared {
		return v
	}
	v.Found, v.MAC, v.BMC = true, n.MAC, n.BMC
	r, _ := store.Node(name)
	if r.Addr.IsValid() {
		v.Addr = r.Addr.String()
	}
	v.Booted = status.ShortCommit(r.Booted)
	if r.Booted == "" {
		v.Booted = "--"
	}
	v.Boot, v.PrevBoot = timelineOf(r.Boot), timelineOf(r.PrevBoot)
	return v
}

// unknownsOf lists the unknown MACs, each with a proposed node block; the
// blocks of all of them together never share a name or an address.
func unknownsOf(us []status.Unknown, snap *bootsvc.Snapshot, profile string, now time.Time) ([]unknownView, string, string) {
	out := make([]unknownView, len(us))
	for i, u := range us {
		v := unknownView{MAC: u.MAC, Addr: "--", Stage: string(u.Stage), Sent: dash(u.Sent), Count: u.Count,
			FirstSeen: u.FirstSeen.UTC().Format(time.RFC3339), LastSeen: ago(now.Sub(u.LastSeen))}
		if u.Addr.IsValid() {
			v.Addr = u.Addr.String()
		}
		out[i] = v
	}
	if len(us) == 0 || snap == nil {
		return out, "", ""
	}
	taken, names := map[netip.Addr]bool{snap.Server.Address: true}, map[string]bool{}
	var nets []nodeblock.Network
	for i := range snap.Networks {
		n := &snap.Networks[i]
		nets = append(nets, nodeblock.Network{Name: n.Name, Subnet: n.Subnet, DynamicStart: n.DynamicStart, DynamicEnd: n.DynamicEnd})
		taken[n.Gateway] = true
		for _, d := range n.DNS {
			taken[d] = true
		}
	}
	for i := range snap.Nodes {
		taken[snap.Nodes[i].IP] = true
		names[snap.Nodes[i].Name] = true
	}
	// Group by network (where each was seen), propose per group, in order.
	groups := map[string][]int{}
	var order []nodeblock.Network
	for i, u := range us {
		n, err := nodeblock.Pick(nets, "", u.Addr)
		if err != nil {
			return out, "", err.Error()
		}
		if _, ok := groups[n.Name]; !ok {
			order = append(order, n)
		}
		groups[n.Name] = append(groups[n.Name], i)
	}
	var all []nodeblock.Block
	for _, n := range order {
		idx := groups[n.Name]
		macs := make([]string, len(idx))
		for j, i := range idx {
			macs[j] = us[i].MAC
		}
		blocks, err := nodeblock.Propose(macs, nodeblock.Options{Network: n, Taken: taken, Names: names, Profile: profile})
		if err != nil {
			return out, "", err.Error()
		}
		for j, b := range blocks {
			taken[b.IP], names[b.Name] = true, true
			out[idx[j]].Name = b.Name
			out[idx[j]].HCL = string(nodeblock.Write([]nodeblock.Block{b}, profile))
		}
		all = append(all, blocks...)
	}
	return out, string(nodeblock.Write(all, profile)), ""
}

func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " s ago"
}

// build assembles the view of the page; selected names the node whose
// timeline is shown ("" none).
func (u *UI) build(snap *bootsvc.Snapshot, selected string) *view {
	now := u.cfg.Now()
	names, server, addr, interval := snapInfo(snap)
	rep := u.cfg.Status.Report(server, "", interval, names)
	rep.MarkReboots(httpboot.CurrentDigests(snap))
	v := &view{Server: server, Address: addr, NowMS: now.UnixMilli(), Interval: int64(interval / time.Second),
		Total: len(rep.Nodes), Reboots: rep.Reboots(), Selected: selected}
	u.mu.Lock()
	v.Applied, v.Rejected, v.Diags = u.applied, u.rejected, u.diags
	v.Rollout = rolloutOf(u.rollout)
	u.mu.Unlock()
	if v.Applied.Hash == "" && snap != nil {
		v.Applied.Hash = snap.Commit
	}
	v.Rows = make([]rowView, len(rep.Nodes))
	for i := range rep.Nodes {
		v.Rows[i] = rowOf(&rep.Nodes[i], now, interval)
	}
	v.Counts = countsOf(v.Rows)
	v.Hist = histOf(rep.Nodes)
	v.Unknown, v.HCL, v.HCLErr = unknownsOf(rep.Unknown, snap, u.cfg.Profile, now)
	if selected != "" && snap != nil {
		v.Node = nodeOf(u.cfg.Status, snap, selected)
	}
	return v
}
