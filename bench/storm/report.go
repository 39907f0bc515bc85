package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// targetSummary is one storm's outcome.
type targetSummary struct {
	Target              string  `json:"target"`
	Nodes               int     `json:"nodes"`
	Failures            int     `json:"failures"`
	SecondsToAllRuntime float64 `json:"seconds_to_all_runtime"`
	// BootP50s and BootP99s are per node: power-on (its arrival) until
	// its runtime overlay was fetched.
	BootP50s      float64            `json:"boot_p50_s"`
	BootP99s      float64            `json:"boot_p99_s"`
	P50ms         map[string]float64 `json:"p50_ms"`
	P99ms         map[string]float64 `json:"p99_ms"`
	MaxMs         map[string]float64 `json:"max_ms"`
	Retries       map[string]int     `json:"retries"`
	Reboots       int                `json:"reboots"`
	AgentFetches  int                `json:"agent_fetches"`
	AgentErrors   int                `json:"agent_errors"`
	ServerPeakRSS int64              `json:"server_peak_rss_bytes"`
	ServerCPU     float64            `json:"server_cpu_seconds"`
	// ClientCPU is the load generator's own CPU time during the storm
	// (it shares the machine with the server).
	ClientCPU     float64 `json:"client_cpu_seconds"`
	BytesReceived int64   `json:"bytes_received"`
	// ServerUDPDrops counts the UDP datagrams the server namespace's
	// kernel dropped during the storm because a socket's receive buffer
	// was full (RcvbufErrors in /proc/net/snmp): requests the server was
	// too slow to read. -1: not read.
	ServerUDPDrops int64          `json:"server_udp_rcvbuf_drops"`
	Errors         map[string]int `json:"errors,omitempty"`
}

// summary is the JSON line the storm ends with: the gitboot storm's figures
// at the top (or the reference's alone with -target reference), the
// reference's under "reference", and their ratio.
type summary struct {
	targetSummary
	Spread       string  `json:"spread"`
	MaxActive    int     `json:"max_active"`
	RestartAtS   float64 `json:"restart_at_s,omitempty"`
	RestartTookS float64 `json:"restart_unreachable_s,omitempty"`
	// StatusAtRuntime counts the nodes `gitboot status` lists at
	// RUNTIME_OVERLAY after the storm (-1: not checked, no gitboot run).
	StatusAtRuntime int            `json:"status_at_runtime"`
	StatusMissing   []string       `json:"status_missing,omitempty"`
	Reference       *targetSummary `json:"reference,omitempty"`
	// Ratio is gitboot's seconds_to_all_runtime over the reference's
	// (with arrivals spread over -spread, both are near -spread when the
	// servers keep up); RatioBootP99 compares the per-node boot times.
	Ratio        float64 `json:"ratio_seconds_to_all_runtime,omitempty"`
	RatioBootP99 float64 `json:"ratio_boot_p99,omitempty"`
	Peers        string  `json:"peers,omitempty"`
	Date         string  `json:"date"`
	Machine      string  `json:"machine"`
	LoadAvg      string  `json:"loadavg_at_end"`
	PeakNote     string  `json:"server_peak_rss_is"`
}

// storms runs the storm against each target asked for.
func storms(ctx context.Context, e *env, mux *dhcpMux) (*summary, error) {
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sum := &summary{Spread: spread.String(), MaxActive: *maxActive, StatusAtRuntime: -1,
		Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(),
		PeakNote: "the largest sum of VmHWM over the server's processes (gitboot serve; dnsmasq + nginx master and workers)"}
	g := &gitbootTarget{e: e}
	log.Printf("%d nodes: starting gitboot serve (first build of every node's artifacts)", len(e.macs))
	if err := g.start(); err != nil {
		g.stop()
		return nil, err
	}
	defer g.stop()
	if *targetFlag != "reference" {
		restartAt := *spread / 2
		var unreachable time.Duration
		var restartErr error
		restarted := make(chan struct{})
		if *restart {
			go func() {
				defer close(restarted)
				if sleep(ctx, restartAt) {
					log.Printf("restarting gitboot serve at %v", restartAt)
					unreachable, restartErr = g.restart()
				}
			}()
		} else {
			close(restarted)
		}
		ts, err := oneStorm(ctx, e, mux, g, "gitboot")
		<-restarted
		if err == nil {
			err = restartErr
		}
		if err != nil {
			return nil, err
		}
		if *restart {
			sum.RestartAtS, sum.RestartTookS = restartAt.Seconds(), round3(unreachable.Seconds())
		}
		sum.targetSummary = *ts
		sum.StatusAtRuntime, sum.StatusMissing, err = statusAtRuntime(ctx, e)
		if err != nil {
			return nil, err
		}
	}
	if *targetFlag == "gitboot" {
		return sum, nil
	}
	if err := prepareReference(ctx, e); err != nil {
		return nil, err
	}
	g.stop()
	sum.Peers = peerVersions()
	r := &refTarget{e: e}
	if err := r.start(); err != nil {
		r.stop()
		return nil, fmt.Errorf("starting the reference: %w", err)
	}
	ts, err := oneStorm(ctx, e, mux, r, "reference")
	r.stop()
	if err != nil {
		return nil, err
	}
	if *targetFlag == "reference" {
		sum.targetSummary = *ts
		return sum, nil
	}
	sum.Reference = ts
	if ts.SecondsToAllRuntime > 0 {
		sum.Ratio = round3(sum.SecondsToAllRuntime / ts.SecondsToAllRuntime)
	}
	if ts.BootP99s > 0 {
		sum.RatioBootP99 = round3(sum.BootP99s / ts.BootP99s)
	}
	return sum, nil
}

// oneStorm runs the storm against a started target and summarises it.
func oneStorm(ctx context.Context, e *env, mux *dhcpMux, t target, name string) (*targetSummary, error) {
	rec := newRecorder()
	s := &sim{mux: mux, rec: rec, reboots: *reboots}
	nodes := make([]*node, len(e.macs))
	for i := range nodes {
		nodes[i] = newNode(i, e.macs[i], e.ips[i])
	}
	smp := sample(t)
	cpu0 := selfCPU()
	drops0, dropsErr := udpRcvbufErrors(e.srvNS)
	log.Printf("%s: %d nodes powering on over %v", name, len(nodes), *spread)
	res := s.run(ctx, nodes, *spread, *maxActive, e.base, *agentEvery)
	peak, cpu := smp.finish(t)
	clientCPU := selfCPU() - cpu0
	drops1, err := udpRcvbufErrors(e.srvNS)
	drops := drops1 - drops0
	if err != nil || dropsErr != nil {
		log.Printf("%s: reading the server namespace's UDP counters: %v %v", name, dropsErr, err)
		drops = -1
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: the storm did not end within -timeout %v (%d of %d booted)", name, *timeout, res.booted, len(nodes))
	}
	ts := &targetSummary{Target: name, Nodes: len(nodes), Failures: res.failed,
		P50ms: map[string]float64{}, P99ms: map[string]float64{}, MaxMs: map[string]float64{}, Retries: map[string]int{},
		Reboots: rec.reboots, AgentErrors: rec.agentErr, AgentFetches: len(rec.lat[stAgent]),
		ServerPeakRSS: peak, ServerCPU: round3(cpu), ClientCPU: round3(clientCPU), BytesReceived: rec.bytes,
		ServerUDPDrops: drops}
	if res.booted > 0 {
		ts.SecondsToAllRuntime = round3(res.lastDone.Sub(res.start).Seconds())
		slices.Sort(res.boot)
		ts.BootP50s = round3(quantile(res.boot, 0.5).Seconds())
		ts.BootP99s = round3(quantile(res.boot, 0.99).Seconds())
	}
	for st := range nStages {
		l := rec.lat[st]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		name := stageNames[st]
		ts.P50ms[name] = msOf(quantile(l, 0.5))
		ts.P99ms[name] = msOf(quantile(l, 0.99))
		ts.MaxMs[name] = msOf(l[len(l)-1])
		ts.Retries[name] = rec.retries[st]
	}
	ts.Errors = topErrors(rec.errors, 10)
	return ts, nil
}

func quantile(xs []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func msOf(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func topErrors(m map[string]int, n int) map[string]int {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	out := map[string]int{}
	for _, k := range keys[:min(n, len(keys))] {
		out[k] = m[k]
	}
	return out
}

// countRuntime counts the generated nodes a `gitboot status --json` report
// lists at RUNTIME_OVERLAY and names (up to 10) those that are not.
func countRuntime(out []byte, names map[string]bool) (int, []string, error) {
	var rep status.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return 0, nil, fmt.Errorf("gitboot status --json: %w", err)
	}
	n := 0
	seen := map[string]bool{}
	var missing []string
	for _, r := range rep.Nodes {
		if !names[r.Name] {
			continue
		}
		seen[r.Name] = true
		if r.Stage == status.StageRuntimeOverlay {
			n++
		} else if len(missing) < 10 {
			missing = append(missing, r.Name+" at "+string(r.Stage))
		}
	}
	for name := range names {
		if !seen[name] && len(missing) < 10 {
			missing = append(missing, name+" not listed")
		}
	}
	return n, missing, nil
}

// selfCPU is this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// machine describes this machine: CPUs, kernel, load.
func machine() string {
	out, _ := exec.Command("uname", "-sr").Output()
	return fmt.Sprintf("%d CPUs, %s", runtime.NumCPU(), strings.TrimSpace(string(out)))
}

func printTables(s *summary) {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		s.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	rows := []*targetSummary{&s.targetSummary}
	if s.Reference != nil {
		rows = append(rows, s.Reference)
	}
	fmt.Printf("\n%d nodes over %s: per stage p50 / p99 ms (retries)\n%-10s", s.Nodes, s.Spread, "stage")
	for _, r := range rows {
		fmt.Printf(" %28s", r.Target)
	}
	fmt.Println()
	for _, st := range stageNames {
		fmt.Printf("%-10s", st)
		for _, r := range rows {
			fmt.Printf(" %28s", fmt.Sprintf("%.1f / %.1f (%d)", r.P50ms[st], r.P99ms[st], r.Retries[st]))
		}
		fmt.Println()
	}
	for _, r := range rows {
		fmt.Printf("%s: failures %d, all at RUNTIME_OVERLAY after %.1f s, boot p50 %.2f s p99 %.2f s, server peak RSS %.1f MB, CPU %.1f s (load generator %.1f s), reboots %d, agent fetches %d (errors %d), UDP datagrams dropped at the server (receive buffer full) %d\n",
			r.Target, r.Failures, r.SecondsToAllRuntime, r.BootP50s, r.BootP99s, float64(r.ServerPeakRSS)/(1<<20), r.ServerCPU, r.ClientCPU, r.Reboots, r.AgentFetches, r.AgentErrors, r.ServerUDPDrops)
		for k, v := range r.Errors {
			fmt.Printf("  %6d× %s\n", v, k)
		}
	}
	if s.StatusAtRuntime >= 0 {
		fmt.Printf("gitboot status: %d of %d nodes at RUNTIME_OVERLAY %v\n", s.StatusAtRuntime, s.Nodes, s.StatusMissing)
	}
	if s.Ratio > 0 {
		fmt.Printf("ratio gitboot/reference: seconds to all at RUNTIME_OVERLAY %.2f, boot p99 %.2f\n", s.Ratio, s.RatioBootP99)
	}
}

// udpRcvbufErrors reads the UDP RcvbufErrors counter of network namespace
// ns (the datagrams dropped because a socket's receive buffer was full).
func udpRcvbufErrors(ns string) (int64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, fmt.Errorf("reading /proc/net/snmp in %s: %w", ns, err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) && names[i] == "RcvbufErrors" {
				return strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no Udp RcvbufErrors in /proc/net/snmp of %s", ns)
}
