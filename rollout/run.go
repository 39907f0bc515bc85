package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// Defaults of Config.
const (
	DefaultWait    = status.StageRuntimeOverlay
	DefaultTimeout = 15 * time.Minute
	DefaultPoll    = 250 * time.Millisecond
)

// ErrSuperseded is the cause a Manager cancels a rollout with when a newer
// commit is applied.
var ErrSuperseded = errors.New("a newer commit was applied")

// Power is what a rollout needs of the nodes' BMCs. Both calls return one
// PowerResult per node, in the order asked.
type Power interface {
	Status(ctx context.Context, nodes []string) []PowerResult
	Cycle(ctx context.Context, nodes []string) []PowerResult
}

// PowerResult is one node's power state ("on", "off", "unknown") after a
// call, or why its BMC failed.
type PowerResult struct {
	Node  string
	Power string
	Err   error
}

// Config is one rollout.
type Config struct {
	ID          string // names the rollout in notes and GET /rollout
	Server      string // the server block, for the notes
	Commit      string // the applied commit (full hash) the nodes must boot
	Nodes       []string
	Batch       Batch
	MaxFailures int
	Wait        status.Stage  // the stage a node must reach; default RUNTIME_OVERLAY
	Timeout     time.Duration // per batch; default 15 min
	Poll        time.Duration // how often the boot status is read; default 250 ms

	Power Power
	// Watch returns the boot services' records of the named nodes
	// (status.Store.Rows).
	Watch func(names []string) []status.NodeRecord
	// Record receives each notes record as it happens (nil: none).
	Record func(notes.Record)
	// Update receives a copy of the progress after every change (nil:
	// none). It must not block.
	Update func(*Progress)
	Now    func() time.Time // default time.Now
}

// Plan returns the progress of cfg before it runs: every node pending in
// its batch (what --dry-run prints).
func (cfg *Config) Plan() *Progress {
	cfg.defaults()
	p := &Progress{ID: cfg.ID, Server: cfg.Server, Commit: cfg.Commit, State: StatePlanned, Batch: cfg.Batch.String(),
		MaxFailures: cfg.MaxFailures, Wait: string(cfg.Wait), Timeout: cfg.Timeout.String(),
		Batches: []BatchProgress{}, Nodes: []NodeProgress{}}
	for i, b := range Plan(cfg.Nodes, cfg.Batch) {
		p.Batches = append(p.Batches, BatchProgress{Nodes: b, State: BatchPending})
		for _, n := range b {
			p.Nodes = append(p.Nodes, NodeProgress{Name: n, Batch: i, State: NodePending})
		}
	}
	return p
}

func (cfg *Config) defaults() {
	if cfg.Wait == "" {
		cfg.Wait = DefaultWait
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Batch == (Batch{}) {
		cfg.Batch, _ = ParseBatch(DefaultBatch)
	}
}

// StageIndex is the position of a boot stage in status.BootStages, or -1
// for any other stage.
func StageIndex(s status.Stage) int {
	for i, b := range status.BootStages {
		if b == s {
			return i
		}
	}
	return -1
}

// run is one rollout in progress.
type run struct {
	cfg  Config
	wait int // StageIndex(cfg.Wait)
	mu   sync.Mutex
	p    *Progress
	idx  map[string]int // node name -> index in p.Nodes
	seq  int            // notes records written
}

// Run performs the rollout: batch after batch, it reads the power state of
// the batch's nodes (a node that is off is skipped and stays off), power
// cycles the others and waits until each is back at cfg.Wait having booted
// cfg.Commit, or fails (its BMC refused, or the batch's timeout passed).
// After a batch, the rollout halts when more nodes failed than
// cfg.MaxFailures allows. When ctx ends (context.Cause ErrSuperseded: a
// newer commit), no further power command is sent and the rollout ends as
// superseded or canceled. Run returns the final progress; it writes a
// notes record for the start, each batch, each node's outcome and the end.
func Run(ctx context.Context, cfg Config) *Progress {
	if StageIndex(cfg.Wait) < 0 && cfg.Wait != "" {
		p := cfg.Plan()
		p.State, p.Reason = StateCanceled, fmt.Sprintf("wait stage %q is not a boot stage", cfg.Wait)
		return p
	}
	r := &run{cfg: cfg}
	r.p = r.cfg.Plan()
	r.wait = StageIndex(r.cfg.Wait)
	r.idx = make(map[string]int, len(r.p.Nodes))
	for i, n := range r.p.Nodes {
		r.idx[n.Name] = i
	}
	r.mu.Lock()
	r.p.State, r.p.Started = StateRunning, r.cfg.Now()
	r.mu.Unlock()
	r.record(notes.RolloutStarted,
		notes.Field{Key: "commit", Value: r.cfg.Commit},
		notes.Field{Key: "batch", Value: r.cfg.Batch.String()},
		notes.Field{Key: "nodes", Value: strconv.Itoa(len(r.p.Nodes))},
		notes.Field{Key: "batches", Value: strconv.Itoa(len(r.p.Batches))},
		notes.Field{Key: "max_failures", Value: strconv.Itoa(r.cfg.MaxFailures)},
		notes.Field{Key: "wait", Value: string(r.cfg.Wait)},
		notes.Field{Key: "timeout", Value: r.cfg.Timeout.String()})
	r.update()

	state, reason := StateCompleted, ""
	for b := range r.p.Batches {
		if ctx.Err() != nil {
			break
		}
		r.batch(ctx, b)
		r.mu.Lock()
		failed := r.p.Failed
		r.mu.Unlock()
		if ctx.Err() == nil && Halts(failed, r.cfg.MaxFailures) {
			state = StateHalted
			reason = fmt.Sprintf("batch %d of %d: %d node(s) failed, %d allowed", b+1, len(r.p.Batches), failed, max(r.cfg.MaxFailures, 0))
			break
		}
	}
	if ctx.Err() != nil {
		state, reason = StateCanceled, "canceled"
		if cause := context.Cause(ctx); errors.Is(cause, ErrSuperseded) {
			state, reason = StateSuperseded, cause.Error()
		} else if cause != nil && !errors.Is(cause, context.Canceled) {
			reason = cause.Error()
		}
	}
	r.mu.Lock()
	r.p.State, r.p.Reason, r.p.Ended = state, reason, r.cfg.Now()
	done, failed, skipped := r.p.Done, r.p.Failed, r.p.Skipped
	r.mu.Unlock()
	fields := []notes.Field{{Key: "result", Value: state}, {Key: "done", Value: strconv.Itoa(done)},
		{Key: "failed", Value: strconv.Itoa(failed)}, {Key: "skipped", Value: strconv.Itoa(skipped)}}
	if reason != "" {
		fields = append(fields, notes.Field{Key: "reason", Value: reason})
	}
	r.record(notes.RolloutResult, fields...)
	r.update()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p.Clone()
}

// batch runs batch b: power status, power cycle, then waiting.
func (r *run) batch(ctx context.Context, b int) {
	r.mu.Lock()
	bp := &r.p.Batches[b]
	bp.State, bp.Started = BatchRunning, r.cfg.Now()
	names := bp.Nodes
	r.mu.Unlock()
	for _, rec := range r.cfg.Watch(names) {
		r.observe(rec, time.Time{}, false) // where each node is before: for the report
	}
	r.record(notes.RolloutBatch, notes.Field{Key: "batch", Value: fmt.Sprintf("%d/%d", b+1, len(r.p.Batches))},
		notes.Field{Key: "nodes", Value: strings.Join(names, ",")})
	r.update()

	// Power status first: a node that is off stays off.
	var on []string
	for _, res := range r.cfg.Power.Status(ctx, names) {
		switch {
		case ctx.Err() != nil:
		case res.Err != nil:
			r.finish(res.Node, NodeFailed, "power status: "+res.Err.Error())
		case res.Power == "off":
			r.finish(res.Node, NodeSkipped, "powered off: it stays off")
		case res.Power == "on":
			on = append(on, res.Node)
		default:
			r.finish(res.Node, NodeFailed, "power state unknown: not power cycled")
		}
	}
	if ctx.Err() != nil {
		r.endBatch(b, BatchStopped)
		return
	}
	cycled := r.cfg.Now()
	var rebooting []string
	if len(on) > 0 {
		for _, res := range r.cfg.Power.Cycle(ctx, on) {
			if res.Err != nil {
				r.finish(res.Node, NodeFailed, "power cycle: "+res.Err.Error())
				continue
			}
			rebooting = append(rebooting, res.Node)
		}
	}
	r.mu.Lock()
	bp.Cycled = cycled
	for _, n := range rebooting {
		np := &r.p.Nodes[r.idx[n]]
		np.State, np.Cycled = NodeRebooting, cycled
	}
	r.mu.Unlock()
	r.update()
	r.await(ctx, rebooting, cycled, bp.Started.Add(r.cfg.Timeout))
	state := BatchDone
	r.mu.Lock()
	for _, n := range names {
		switch r.p.Nodes[r.idx[n]].State {
		case NodeFailed:
			state = BatchFailed
		case NodeStopped, NodeRebooting:
			if state == BatchDone {
				state = BatchStopped
			}
		}
	}
	r.mu.Unlock()
	r.endBatch(b, state)
}

func (r *run) endBatch(b int, state string) {
	r.mu.Lock()
	r.p.Batches[b].State, r.p.Batches[b].Ended = state, r.cfg.Now()
	r.mu.Unlock()
	r.update()
}

// await polls the boot status of the rebooting nodes until each is done,
// the deadline passes (the rest fail) or ctx ends (the rest are stopped).
func (r *run) await(ctx context.Context, nodes []string, cycled, deadline time.Time) {
	waiting := nodes
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for len(waiting) > 0 {
		var still []string
		for _, rec := range r.cfg.Watch(waiting) {
			if r.observe(rec, cycled, true) {
				continue
			}
			still = append(still, rec.Name)
		}
		waiting = still
		r.update()
		if len(waiting) == 0 {
			return
		}
		if !r.cfg.Now().Before(deadline) {
			for _, n := range waiting {
				r.mu.Lock()
				np := r.p.Nodes[r.idx[n]]
				r.mu.Unlock()
				r.finish(n, NodeFailed, fmt.Sprintf("timed out after %v: last stage %s, last seen %s", r.cfg.Timeout,
					dashIf(np.Stage), seenString(np.LastSeen)))
			}
			return
		}
		select {
		case <-ctx.Done():
			for _, n := range waiting {
				r.finish(n, NodeStopped, "rollout stopped while it was rebooting")
			}
			return
		case <-t.C:
		}
	}
}

// observe takes a node's record into its progress and, with judge,
// reports whether the node is finished: back at the wait stage in a boot
// that started after cycled, from the commit rolled out (done), or its init
// failed (failed).
func (r *run) observe(rec status.NodeRecord, cycled time.Time, judge bool) bool {
	if _, ok := r.idx[rec.Name]; !ok {
		return false
	}
	r.mu.Lock()
	np := &r.p.Nodes[r.idx[rec.Name]]
	np.Stage, np.LastSeen, np.Booted = string(rec.Stage), rec.LastSeen, rec.Booted
	if rec.Error != nil {
		np.Stage = string(rec.Error.Stage)
	}
	r.mu.Unlock()
	if !judge {
		return false
	}
	if rec.Error != nil && rec.Error.Stage == status.StageInitFailed && rec.Error.Time.After(cycled) {
		r.finish(rec.Name, NodeFailed, "its init failed (INIT_FAILED)")
		return true
	}
	reached := false
	for i := r.wait; i < len(rec.Boot.At); i++ {
		if at := rec.Boot.At[i]; !at.IsZero() && at.After(cycled) {
			reached = true
		}
	}
	if reached && sameCommit(rec.Booted, r.cfg.Commit) {
		r.finish(rec.Name, NodeDone, "")
		return true
	}
	return false
}

// sameCommit reports whether two commit hashes name the same commit (one
// may be abbreviated).
func sameCommit(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.HasPrefix(b, a)
}

// finish sets a node's final state and writes its notes record.
func (r *run) finish(name, state, reason string) {
	r.mu.Lock()
	np := &r.p.Nodes[r.idx[name]]
	np.State, np.Reason = state, reason
	if state == NodeDone {
		np.Done = r.cfg.Now()
	}
	r.p.count()
	rec := *np
	r.mu.Unlock()
	fields := []notes.Field{{Key: "name", Value: name}, {Key: "result", Value: state}}
	if rec.Stage != "" {
		fields = append(fields, notes.Field{Key: "stage", Value: rec.Stage})
	}
	if rec.Booted != "" {
		fields = append(fields, notes.Field{Key: "booted", Value: short(rec.Booted)})
	}
	if !rec.LastSeen.IsZero() {
		fields = append(fields, notes.Field{Key: "seen", Value: rec.LastSeen.UTC().Format(time.RFC3339)})
	}
	if !rec.Cycled.IsZero() && !rec.Done.IsZero() {
		fields = append(fields, notes.Field{Key: "took", Value: rec.Done.Sub(rec.Cycled).Round(time.Second).String()})
	}
	if reason != "" {
		fields = append(fields, notes.Field{Key: "reason", Value: reason})
	}
	r.record(notes.RolloutNode, fields...)
}

func (r *run) record(event string, fields ...notes.Field) {
	if r.cfg.Record != nil {
		r.mu.Lock()
		r.seq++
		seq := r.seq
		r.mu.Unlock()
		r.cfg.Record(notes.Rollout(r.cfg.Server, r.cfg.ID, seq, r.cfg.Now(), event, fields...))
	}
}

func (r *run) update() {
	if r.cfg.Update == nil {
		return
	}
	r.mu.Lock()
	c := r.p.Clone()
	r.mu.Unlock()
	r.cfg.Update(c)
}

func short(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

func dashIf(s string) string {
	if s == "" {
		return "--"
	}
	return s
}

func seenString(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
