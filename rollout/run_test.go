package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile/notes"
)

const commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

// fakeNode is how a simulated node behaves.
type fakeNode struct {
	off      bool  // powered off
	refuse   error // its BMC refuses every command
	never    bool  // never comes back after a cycle
	bootedAt time.Time
}

// fakeSite simulates BMCs and the boot status of nodes that come back at
// once, booted from commitB, when power cycled.
type fakeSite struct {
	mu       sync.Mutex
	nodes    map[string]*fakeNode
	statuses [][]string // the nodes of each Status call
	cycles   [][]string // the nodes of each Cycle call
	onCycle  func()     // called after each Cycle (tests cancel there)
}

func newSite(names ...string) *fakeSite {
	s := &fakeSite{nodes: map[string]*fakeNode{}}
	for _, n := range names {
		s.nodes[n] = &fakeNode{}
	}
	return s
}

func (s *fakeSite) Status(_ context.Context, names []string) []PowerResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = append(s.statuses, slices.Clone(names))
	var out []PowerResult
	for _, n := range names {
		fn := s.nodes[n]
		switch {
		case fn.refuse != nil:
			out = append(out, PowerResult{Node: n, Power: "unknown", Err: fn.refuse})
		case fn.off:
			out = append(out, PowerResult{Node: n, Power: "off"})
		default:
			out = append(out, PowerResult{Node: n, Power: "on"})
		}
	}
	return out
}

func (s *fakeSite) Cycle(_ context.Context, names []string) []PowerResult {
	s.mu.Lock()
	s.cycles = append(s.cycles, slices.Clone(names))
	var out []PowerResult
	for _, n := range names {
		fn := s.nodes[n]
		if fn.refuse != nil {
			out = append(out, PowerResult{Node: n, Power: "unknown", Err: fn.refuse})
			continue
		}
		fn.bootedAt = time.Now().Add(time.Millisecond)
		out = append(out, PowerResult{Node: n, Power: "on"})
	}
	f := s.onCycle
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return out
}

func (s *fakeSite) Watch(names []string) []status.NodeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []status.NodeRecord
	old := time.Now().Add(-time.Hour)
	for _, n := range names {
		fn := s.nodes[n]
		rec := status.NodeRecord{Name: n, Stage: status.StageRuntimeOverlay, LastSeen: old, Booted: "aaaaaaa"}
		for i := range rec.Boot.At {
			rec.Boot.At[i] = old
		}
		if !fn.bootedAt.IsZero() && !fn.never {
			rec.Booted, rec.LastSeen = commitB, fn.bootedAt
			for i := range rec.Boot.At {
				rec.Boot.At[i] = fn.bootedAt
			}
		}
		if !fn.bootedAt.IsZero() && fn.never {
			rec.Stage = status.StageDHCP
			rec.Boot = status.Timeline{}
			rec.Boot.At[0] = fn.bootedAt
		}
		out = append(out, rec)
	}
	return out
}

func config(s *fakeSite, batch string, maxFailures int, nodes ...string) (Config, *[]notes.Record) {
	b, err := ParseBatch(batch)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	recs := &[]notes.Record{}
	return Config{ID: "r1", Server: "head", Commit: commitB, Nodes: nodes, Batch: b, MaxFailures: maxFailures,
		Timeout: time.Second, Poll: time.Millisecond, Power: s, Watch: s.Watch,
		Record: func(r notes.Record) { mu.Lock(); *recs = append(*recs, r); mu.Unlock() }}, recs
}

func states(p *Progress) map[string]string {
	m := map[string]string{}
	for _, n := range p.Nodes {
		m[n.Name] = n.State
	}
	return m
}

func TestRunOneAtATime(t *testing.T) {
	s := newSite("c1", "c2", "c3")
	cfg, recs := config(s, "1", 0, "c1", "c2", "c3")
	p := Run(context.Background(), cfg)
	if p.State != StateCompleted || p.Done != 3 || p.Failed != 0 {
		t.Fatalf("state %s done %d failed %d (%s), want completed with 3 done", p.State, p.Done, p.Failed, p.Reason)
	}
	if want := [][]string{{"c1"}, {"c2"}, {"c3"}}; !slices.EqualFunc(s.cycles, want, slices.Equal) {
		t.Fatalf("power cycles %v, want one node at a time %v", s.cycles, want)
	}
	for i, b := range p.Batches {
		if b.State != BatchDone || b.Cycled.IsZero() || b.Ended.Before(b.Cycled) {
			t.Errorf("batch %d: %+v", i, b)
		}
		if i > 0 && b.Started.Before(p.Batches[i-1].Ended) {
			t.Errorf("batch %d started before batch %d ended", i, i-1)
		}
	}
	var events []string
	for _, r := range *recs {
		if r.Type != notes.TypeRollout || r.Get("id") != "r1" || r.Get("server") != "head" {
			t.Fatalf("record %v", r)
		}
		events = append(events, r.Get("event")+":"+r.Get("name")+r.Get("result"))
	}
	want := []string{"started:", "batch:", "node:c1done", "batch:", "node:c2done", "batch:", "node:c3done", "result:completed"}
	if !slices.Equal(events, want) {
		t.Fatalf("records %v\nwant %v", events, want)
	}
}

func TestRunBMCRefusesHalts(t *testing.T) {
	s := newSite("c1", "c2", "c3")
	s.nodes["c2"].refuse = errors.New("RAKP: unauthorized name")
	cfg, recs := config(s, "1", 0, "c1", "c2", "c3")
	p := Run(context.Background(), cfg)
	if p.State != StateHalted || !strings.Contains(p.Reason, "batch 2 of 3") {
		t.Fatalf("state %s reason %q, want halted at batch 2 of 3", p.State, p.Reason)
	}
	if got := states(p); got["c1"] != NodeDone || got["c2"] != NodeFailed || got["c3"] != NodePending {
		t.Fatalf("node states %v", got)
	}
	for _, call := range append(s.statuses, s.cycles...) {
		if slices.Contains(call, "c3") {
			t.Fatalf("c3 was touched after the halt: %v %v", s.statuses, s.cycles)
		}
	}
	if r := p.Nodes[1].Reason; !strings.Contains(r, "unauthorized") || p.Nodes[1].Stage != "RUNTIME_OVERLAY" {
		t.Fatalf("c2's report: %+v", p.Nodes[1])
	}
	last := (*recs)[len(*recs)-1]
	if last.Get("event") != notes.RolloutResult || last.Get("result") != StateHalted || last.Get("failed") != "1" {
		t.Fatalf("last record %v", last)
	}
}

func TestRunMaxFailuresAllowsSome(t *testing.T) {
	s := newSite("c1", "c2", "c3", "c4")
	s.nodes["c1"].refuse = errors.New("refused")
	s.nodes["c3"].refuse = errors.New("refused")
	cfg, _ := config(s, "50%", 1, "c1", "c2", "c3", "c4")
	p := Run(context.Background(), cfg)
	// Batch 1 (c1, c2): 1 failure, allowed. Batch 2 (c3, c4): 2 in all.
	if p.State != StateHalted || p.Failed != 2 || p.Done != 2 {
		t.Fatalf("state %s failed %d done %d, want halted after batch 2 with 2 failed, 2 done", p.State, p.Failed, p.Done)
	}
	cfg, _ = config(newSite("c1", "c2"), "1", 1, "c1", "c2")
	cfg.Power.(*fakeSite).nodes["c1"].refuse = errors.New("refused")
	cfg.Watch = cfg.Power.(*fakeSite).Watch
	if p := Run(context.Background(), cfg); p.State != StateCompleted || p.Failed != 1 || p.Done != 1 {
		t.Fatalf("one failure allowed: state %s failed %d done %d", p.State, p.Failed, p.Done)
	}
}

func TestRunTimeoutReportsLastStage(t *testing.T) {
	s := newSite("c1", "c2")
	s.nodes["c1"].never = true
	cfg, _ := config(s, "1", 0, "c1", "c2")
	cfg.Timeout = 50 * time.Millisecond
	p := Run(context.Background(), cfg)
	n := p.Nodes[0]
	if p.State != StateHalted || n.State != NodeFailed || !strings.Contains(n.Reason, "timed out after 50ms: last stage DHCP, last seen") {
		t.Fatalf("state %s, c1 %+v", p.State, n)
	}
	if len(s.cycles) != 1 {
		t.Fatalf("cycles %v: c2 must be untouched", s.cycles)
	}
}

func TestRunOffStaysOff(t *testing.T) {
	s := newSite("c1", "c2")
	s.nodes["c1"].off = true
	cfg, _ := config(s, "100%", 0, "c1", "c2")
	p := Run(context.Background(), cfg)
	if p.State != StateCompleted || states(p)["c1"] != NodeSkipped || p.Skipped != 1 || p.Done != 1 {
		t.Fatalf("state %s nodes %v", p.State, states(p))
	}
	if want := [][]string{{"c2"}}; !slices.EqualFunc(s.cycles, want, slices.Equal) {
		t.Fatalf("cycles %v, want %v", s.cycles, want)
	}
}

func TestRunSupersededStopsBeforeNextBatch(t *testing.T) {
	s := newSite("c1", "c2", "c3")
	s.nodes["c1"].never = true
	ctx, cancel := context.WithCancelCause(context.Background())
	s.onCycle = func() { cancel(ErrSuperseded) }
	cfg, _ := config(s, "1", 0, "c1", "c2", "c3")
	p := Run(ctx, cfg)
	if p.State != StateSuperseded || states(p)["c1"] != NodeStopped || states(p)["c2"] != NodePending {
		t.Fatalf("state %s (%s) nodes %v", p.State, p.Reason, states(p))
	}
	if len(s.cycles) != 1 {
		t.Fatalf("cycles %v after superseded", s.cycles)
	}
}

func TestRunWrongCommitIsNotDone(t *testing.T) {
	s := newSite("c1")
	cfg, _ := config(s, "1", 0, "c1")
	cfg.Commit = "cccccccccccccccccccccccccccccccccccccccc"
	cfg.Timeout = 30 * time.Millisecond
	if p := Run(context.Background(), cfg); p.State != StateHalted || !strings.Contains(p.Nodes[0].Reason, "timed out") {
		t.Fatalf("a node back on another commit counted: %s %+v", p.State, p.Nodes[0])
	}
}

func TestRunInitFailedFailsAtOnce(t *testing.T) {
	s := newSite("c1", "c2")
	s.nodes["c1"].never = true
	cfg, _ := config(s, "1", 0, "c1", "c2")
	cfg.Timeout = time.Minute
	watch := cfg.Watch
	cfg.Watch = func(names []string) []status.NodeRecord {
		recs := watch(names)
		for i := range recs {
			if recs[i].Name == "c1" && !s.nodes["c1"].bootedAt.IsZero() {
				recs[i].Error = &status.Failure{Stage: status.StageInitFailed, Time: time.Now()}
			}
		}
		return recs
	}
	start := time.Now()
	p := Run(context.Background(), cfg)
	if p.State != StateHalted || p.Nodes[0].State != NodeFailed || !strings.Contains(p.Nodes[0].Reason, "INIT_FAILED") || time.Since(start) > 10*time.Second {
		t.Fatalf("state %s, c1 %+v after %s", p.State, p.Nodes[0], time.Since(start))
	}
}
