// Command scale measures gitboot's control plane on generated repositories
// of 1,000, 10,000 and 50,000 nodes (-sizes): for each, the real CLI in a
// subprocess (wall time and peak RSS from getrusage):
//
//   - validate: load and validate the repository
//   - apply, full build: the first apply (every artifact built, swapped in)
//   - plan, one node changed: a commit changing one node's kernel_args
//   - apply, one node changed: its one-node rebuild and the swap
//   - plan, comment only: a commit that changes nothing a node gets
//   - idle polls: serve's reconciler restored from the state, one start
//     pass, then 10 recheck passes with nothing changed: their CPU time
//     (getrusage), not wall time
//   - notes write: one notes commit holding every node's status record
//     (what serve's status batches write), through reconcile/notes
//
// and prints a table per step of how each grows against the node count
// (growth 1.00 = linear from the smallest size). Each node's files go to
// its runtime overlays (hostname, a template); the system overlay is the
// same for all, as in bench/storm. -per-node-system N adds a row at N
// nodes with a per-node system overlay (hostname there), whose build
// compresses gitboot's agent once per node.
//
//	make build && go run ./bench/scale [-sizes 1000,10000,50000]
//
// The last stdout line is a JSON summary.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
	"github.com/gitboot/gitboot/reconcile/notes"
)

var (
	sizes         = flag.String("sizes", "1000,10000,50000", "node counts, comma-separated")
	bin           = flag.String("bin", "bin/gitboot", "the gitboot binary (gitboot-agent beside it)")
	keep          = flag.Bool("keep", false, "keep the generated repositories and state")
	perNodeSystem = flag.Int("per-node-system", 0, "also measure, at this many nodes, the full build with a per-node system overlay (slow: 0 skips it)")
	notesChild    = flag.String("notes-child", "", "internal: write one notes commit of -notes-nodes records for HEAD of this repository")
	notesNodes    = flag.Int("notes-nodes", 0, "internal: node records for -notes-child")
	idleRepo      = flag.String("idle-child", "", "internal: measure idle polls of serve's reconciler on this repository")
	idleState     = flag.String("idle-state", "", "internal: state directory for -idle-child")
	idleImage     = flag.String("idle-image", "", "internal: image source for -idle-child")
	idleAgent     = flag.String("idle-agent", "", "internal: gitboot-agent for -idle-child")
)

// step is one measured command.
type step struct {
	Nodes   int     `json:"nodes"`
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds,omitempty"` // user + system (getrusage): what a loaded machine does not inflate
	PeakRSS int64   `json:"peak_rss_bytes"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench/scale: ")
	flag.Parse()
	if *notesChild != "" {
		if err := writeNotes(*notesChild, *notesNodes); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *idleRepo != "" {
		if err := idleChild(*idleRepo, *idleState, *idleImage, *idleAgent); err != nil {
			log.Fatal(err)
		}
		return
	}
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("-sizes %q: node counts, comma-separated", *sizes)
		}
		ns = append(ns, n)
	}
	gitboot, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(gitboot)
	}
	if err != nil {
		log.Fatalf("%v (make build first)", err)
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	var steps []step
	for _, n := range ns {
		s, err := measure(gitboot, self, n, false)
		if err != nil {
			log.Fatalf("%d nodes: %v", n, err)
		}
		steps = append(steps, s...)
	}
	if *perNodeSystem > 0 {
		s, err := measure(gitboot, self, *perNodeSystem, true)
		if err != nil {
			log.Fatalf("%d nodes, per-node system overlays: %v", *perNodeSystem, err)
		}
		for _, x := range s {
			if x.Step == "apply, per-node system overlays" {
				steps = append(steps, x)
			}
		}
		ns = append(ns, *perNodeSystem)
	}
	printGrowth(steps, ns)
	out, _ := os.ReadFile("/proc/loadavg")
	load := strings.Join(strings.Fields(string(out))[:3], " ")
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Date    string `json:"date"`
		CPUs    int    `json:"cpus"`
		LoadAvg string `json:"loadavg_at_end"`
		Steps   []step `json:"steps"`
	}{time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), load, steps})
}

// measure runs every step on a fresh repository of n nodes.
func measure(gitboot, self string, n int, perNode bool) ([]step, error) {
	dir, done, err := benchenv.TempDir("gitboot-bench-scale", *keep)
	if err != nil {
		return nil, err
	}
	defer done()
	repo, image, state := filepath.Join(dir, "repo"), filepath.Join(dir, "image"), filepath.Join(dir, "state")
	if err := benchenv.WriteImage(image, 64<<10, 64<<10); err != nil {
		return nil, err
	}
	r := benchenv.Repo{Nodes: n, Prefix: "10.64", System: "[]", Runtime: "[overlay.generic, overlay.hostname]"}
	if err := r.Write(repo); err != nil {
		return nil, err
	}
	if err := benchenv.Commit(repo, "generated"); err != nil {
		return nil, err
	}
	var steps []step
	var failed error
	do := func(name string, cmd string, args ...string) {
		if failed != nil {
			return
		}
		d, cpu, rss, err := run(cmd, args...)
		if err != nil {
			failed = fmt.Errorf("%s: %w", name, err)
			return
		}
		steps = append(steps, step{Nodes: n, Step: name, Seconds: round3(d.Seconds()), CPU: round3(cpu.Seconds()), PeakRSS: rss})
		fmt.Printf("%7d nodes  %-36s %9.3f s %9.1f MB %9.3f s CPU\n", n, name, d.Seconds(), float64(rss)/(1<<20), cpu.Seconds())
	}
	vars := []string{"--var", "image_source=" + image}
	cli := func(args ...string) []string {
		return append(append(args, "--repo", repo, "--state", state, "--image-root", filepath.Dir(image)), vars...)
	}
	do("validate", gitboot, append([]string{"validate", repo}, vars...)...)
	do("apply, full build", gitboot, cli("apply", "--auto-approve")...)
	nodesFile := filepath.Join(repo, "nodes.hcl")
	data, err := os.ReadFile(nodesFile)
	if err != nil {
		return nil, err
	}
	changed := strings.Replace(string(data), `kernel_args = ["quiet"]`, `kernel_args = ["quiet", "debug"]`, 1)
	if err := commitFile(repo, nodesFile, changed, "one node"); err != nil {
		return nil, err
	}
	do("plan, one node changed", gitboot, cli("plan")...)
	do("apply, one node changed", gitboot, cli("apply", "--auto-approve")...)
	if err := commitFile(repo, nodesFile, changed+"# a comment\n", "comment"); err != nil {
		return nil, err
	}
	do("plan, comment only", gitboot, cli("plan")...)
	if failed == nil {
		// serve's reconciler, idle: CPU seconds of the polls, not wall time.
		cpu, rss, err := runIdle(self, gitboot, repo, state, image)
		if err != nil {
			failed = err
		} else {
			name := fmt.Sprintf("%d idle polls (CPU s)", idlePolls)
			steps = append(steps, step{Nodes: n, Step: name, Seconds: round3(cpu.Seconds()), CPU: round3(cpu.Seconds()), PeakRSS: rss})
			fmt.Printf("%7d nodes  %-36s %9.3f s %9.1f MB\n", n, name, cpu.Seconds(), float64(rss)/(1<<20))
		}
	}
	do("notes write (every node's status)", self, "-notes-child", repo, "-notes-nodes", strconv.Itoa(n))
	if perNode && failed == nil {
		// The same repository with the hostname overlay as a system
		// overlay: every node's system overlay differs.
		r.System, r.Runtime = "[overlay.hostname]", "[overlay.generic]"
		if err := r.Write(repo); err != nil {
			return nil, err
		}
		if err := benchenv.Git(repo, "commit", "-q", "-am", "per-node system overlay"); err != nil {
			return nil, err
		}
		do("apply, per-node system overlays", gitboot, cli("apply", "--auto-approve")...)
	}
	return steps, failed
}

// commitFile writes text to file and commits it in repo.
func commitFile(repo, file, text, msg string) error {
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		return err
	}
	return benchenv.Git(repo, "commit", "-q", "-am", msg)
}

// run runs a command and returns its wall time, CPU time (user + system)
// and peak RSS.
func run(name string, args ...string) (time.Duration, time.Duration, int64, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	rss, err := benchenv.RunPeak(cmd)
	d := time.Since(start)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, benchenv.Tail(out.Bytes(), 2000))
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss, nil
}

// writeNotes writes one notes commit on HEAD of repo with n node records,
// as serve's status batch does after a storm.
func writeNotes(repo string, n int) error {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		return fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	head := strings.TrimSpace(string(out))
	nt, err := notes.Open(repo)
	if err != nil {
		return err
	}
	seen := time.Now().UTC()
	recs := make([]notes.Record, n)
	for i := range recs {
		recs[i] = notes.Node("head", benchenv.NodeName(i), "RUNTIME_OVERLAY", "runtime.img.gz",
			benchenv.NodeIP("10.64", i).String(), seen, head[:12])
	}
	return nt.Update(map[string]func([]notes.Record) []notes.Record{head: notes.ReplaceNodes("head", recs)}, "status")
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// printGrowth prints, per step, time and RSS at each size and the growth
// against the smallest size (time ratio over node ratio: 1.00 is linear).
func printGrowth(steps []step, ns []int) {
	fmt.Printf("\n%-36s", "step")
	for _, n := range ns {
		fmt.Printf(" %20s", fmt.Sprintf("%d nodes s / MB", n))
	}
	fmt.Printf(" %s\n", "growth (time per node vs smallest)")
	var names []string
	seen := map[string]bool{}
	for _, s := range steps {
		if !seen[s.Step] {
			seen[s.Step] = true
			names = append(names, s.Step)
		}
	}
	for _, name := range names {
		fmt.Printf("%-36s", name)
		var base *step
		var growth []string
		for _, n := range ns {
			var s *step
			for i := range steps {
				if steps[i].Step == name && steps[i].Nodes == n {
					s = &steps[i]
				}
			}
			if s == nil {
				fmt.Printf(" %20s", "-")
				continue
			}
			fmt.Printf(" %20s", fmt.Sprintf("%.3f / %.0f", s.Seconds, float64(s.PeakRSS)/(1<<20)))
			if base == nil {
				base = s
			} else if base.Seconds > 0 {
				growth = append(growth, fmt.Sprintf("%.2f", (s.Seconds/base.Seconds)/(float64(s.Nodes)/float64(base.Nodes))))
			}
		}
		fmt.Printf(" %s\n", strings.Join(growth, " "))
	}
}
