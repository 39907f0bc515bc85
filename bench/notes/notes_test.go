package notesbench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
)

const (
	numNodes   = 10000
	numCommits = 200
	numReboots = 500
	bootBatch  = 500 // nodes per notes batch during the first boot of the site
	rebootAll  = 20  // every rebootAll-th commit changes every node's artifacts
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func git(tb testing.TB, dir, stdin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// repo makes a repository with numCommits commits on main, oldest first.
func repo(tb testing.TB) (string, []string) {
	dir := filepath.Join(tb.TempDir(), "repo")
	git(tb, "", "", "init", "-q", "-b", "main", dir)
	var in strings.Builder
	for i := range numCommits {
		data := fmt.Sprintf("# change %d\n", i)
		fmt.Fprintf(&in, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.org> %d +0000\ndata 7\nchange\n", i+1, 1700000000+i)
		fmt.Fprintf(&in, "M 100644 inline nodes.hcl\ndata %d\n%s\n", len(data), data)
	}
	git(tb, dir, in.String(), "fast-import", "--quiet")
	line := strings.Fields(git(tb, dir, "", "rev-list", "--reverse", "main"))
	return dir, line
}

// site is the simulated server: the node table it would write from, and
// the writer's tracker, as the server's notes writer (package serve) uses them.
type site struct {
	tb      testing.TB
	n       *notes.Notes
	tracker *notes.Tracker
	nodes   []notes.Record
	reboot  map[string]bool
	commits int
}

func name(i int) string { return fmt.Sprintf("c%05d", i+1) }

func (s *site) node(i int, stage string, at time.Time, boot time.Time, booted string) {
	r := notes.Node("head", name(i), stage, "runtime.img", "10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1), at, booted[:7])
	r.Fields = append(r.Fields, notes.Field{Key: "boot", Value: boot.Format(time.RFC3339)})
	s.nodes[i] = r
}

// flush writes what the writer would: changed node records, the reboot
// set when it changed, a table record, plus extra records (apply).
func (s *site) flush(commit string, at time.Time, extra ...notes.Record) {
	changed := s.tracker.Changed(s.nodes)
	var names []string
	for i := range s.nodes {
		if s.reboot[name(i)] {
			names = append(names, name(i))
		}
	}
	if r, ok := s.tracker.Reboot(at, names); ok {
		changed = append(changed, r)
	}
	recs := extra
	if len(changed) > 0 || len(extra) > 0 {
		recs = append(recs, changed...)
		recs = append(recs, s.tracker.Table(at, changed))
	}
	if len(recs) == 0 {
		return
	}
	if err := s.n.Update(map[string]func([]notes.Record) []notes.Record{commit: notes.AppendUnique(recs...)}, "gitboot: head"); err != nil {
		s.tb.Fatal(err)
	}
	s.tracker.Written(changed)
	s.commits++
}

func simulate(tb testing.TB, dir string, line []string) *site {
	n, err := notes.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	s := &site{tb: tb, n: n, tracker: notes.NewTracker("head"), nodes: make([]notes.Record, numNodes), reboot: map[string]bool{}}
	for i := range s.nodes {
		s.nodes[i] = notes.Record{} // never seen
	}
	at := t0
	apply := func(c int) {
		at = at.Add(time.Hour)
		s.flush(line[c], at, notes.Apply("head", at, notes.ResultApplied, 0, numNodes, 0))
	}
	// The first commit: the site boots, bootBatch nodes a batch, each
	// batch seen first booting, then running.
	apply(0)
	for b := 0; b < numNodes; b += bootBatch {
		at = at.Add(time.Minute)
		for i := b; i < b+bootBatch; i++ {
			s.node(i, "KERNEL", at, at, line[0])
		}
		s.flush(line[0], at)
		at = at.Add(time.Minute)
		for i := b; i < b+bootBatch; i++ {
			s.node(i, "RUNTIME_OVERLAY", at, s.nodes[i].Time("seen"), line[0])
		}
		s.flush(line[0], at)
	}
	// The other commits; numReboots reboots spread over them.
	reboots := 0
	for c := 1; c < numCommits; c++ {
		apply(c)
		if c%rebootAll == 0 {
			for i := range numNodes {
				s.reboot[name(i)] = true
			}
			s.flush(line[c], at)
		}
		for ; reboots < numReboots*c/(numCommits-1); reboots++ {
			i := (reboots * 7919) % numNodes
			at = at.Add(time.Minute)
			s.node(i, "DHCP", at, at, s.nodes[i].Get("booted")+strings.Repeat("0", 7))
			s.flush(line[c], at)
			at = at.Add(time.Minute)
			s.node(i, "RUNTIME_OVERLAY", at, s.nodes[i].Time("seen"), line[c])
			delete(s.reboot, name(i))
			s.flush(line[c], at)
		}
	}
	return s
}

// packedBytes is the size of a pack of the notes ref's objects alone.
func packedBytes(tb testing.TB, dir string) int {
	objs := git(tb, dir, "", "rev-list", "--objects", notes.Ref)
	cmd := exec.Command("git", "pack-objects", "--stdout", "-q")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(objs + "\n")
	out, err := cmd.Output()
	if err != nil {
		tb.Fatal(err)
	}
	return len(out)
}

// statusRepo is what `gitboot status --repo` reads: the tip, the walk back
// and the newest record per node.
func statusRepo(tb testing.TB, dir string) *notes.History {
	src, err := gitsrc.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tip, err := src.Resolve("main")
	if err != nil {
		tb.Fatal(err)
	}
	n, err := notes.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := n.Latest(notes.FirstParents(src, tip.Hash))
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func BenchmarkNotesHistory(b *testing.B) {
	dir, line := repo(b)
	s := simulate(b, dir, line)
	var h *notes.History
	start := time.Now()
	runs := 0
	for b.Loop() {
		h = statusRepo(b, dir)
		runs++
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(runs), "s/status")
	if len(h.Servers) != 1 || len(h.Servers[0].Nodes) != numNodes || h.Servers[0].Applied != line[len(line)-1] || !h.Complete {
		b.Fatalf("status --repo read %d servers, complete %v", len(h.Servers), h.Complete)
	}
	b.ReportMetric(float64(h.Walked), "commits-read")
	git(b, dir, "", "gc", "-q")
	b.ReportMetric(float64(packedBytes(b, dir))/1e6, "MB-packed")
	b.ReportMetric(float64(s.commits), "notes-commits")
	lines := 0
	for _, c := range line {
		if out, err := exec.Command("git", "-C", dir, "notes", "--ref=gitboot", "show", c).Output(); err == nil {
			lines += strings.Count(string(out), "\n")
		}
	}
	b.ReportMetric(float64(lines), "note-lines")
}
