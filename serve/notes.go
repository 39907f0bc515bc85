package serve

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// notesWriter writes what the server does to refs/notes/gitboot of its
// repository: an apply record (and, for a rejected commit, its
// diagnostics) for every commit evaluated, written at once; and, batched
// (at most one notes commit per interval), the record of each node whose
// record changed in a way a reader cares about (notes.Tracker: a new boot,
// a final or failed stage, the booted commit), on the applied commit, with
// a table record counting the nodes with records (the stop rule of
// notes.Latest). Heartbeats alone write nothing. A remote source gets its
// notes pushed back after each write.
type notesWriter struct {
	log      *slog.Logger
	notes    *notes.Notes
	server   string
	remote   string // URL to push to; "" for a local repository
	interval time.Duration
	store    *status.Store
	snapshot func() *bootsvc.Snapshot

	mu      sync.Mutex
	pending map[string][]notes.Record // commit -> records to append
	kick    chan struct{}
	repo    string
	tracker *notes.Tracker // Run's goroutine only; nil until seeded from the notes

	unpushed bool // a push failed: push again at the next flush (Run's goroutine only)
}

func newNotesWriter(log *slog.Logger, repo, remote, server string, interval time.Duration, store *status.Store, snapshot func() *bootsvc.Snapshot) (*notesWriter, error) {
	n, err := notes.Open(repo)
	if err != nil {
		return nil, err
	}
	return &notesWriter{log: log.With("svc", "notes"), notes: n, server: server, remote: remote, interval: interval,
		store: store, snapshot: snapshot, pending: map[string][]notes.Record{}, kick: make(chan struct{}, 1),
		repo: repo}, nil
}

// Evaluated queues the records of one evaluation (the reconciler's
// OnEvaluated hook); it never blocks on git.
func (w *notesWriter) Evaluated(ev reconcile.Evaluation) {
	if ev.Commit == nil {
		return
	}
	var result string
	switch ev.Result {
	case reconcile.ResultApplied, reconcile.ResultUnchanged:
		result = "applied" // its desired state is what is served
	case reconcile.ResultRejected:
		result = "rejected"
	case reconcile.ResultPlanned:
		result = "planned"
	default:
		return // transient: retried, noted once it ends
	}
	at := time.Now()
	var add, change, destroy int
	if ev.Plan != nil {
		add, change, destroy = ev.Plan.Summary.Add, ev.Plan.Summary.Change, ev.Plan.Summary.Destroy
	}
	server := w.serverName(ev)
	recs := []notes.Record{notes.Apply(server, at, result, add, change, destroy)}
	for _, d := range errorDiags(ev.Err) {
		recs = append(recs, notes.Diagnostic(server, d.file, d.line, d.col, d.summary))
	}
	w.mu.Lock()
	w.pending[ev.Commit.Hash] = append(w.pending[ev.Commit.Hash], recs...)
	for _, h := range ev.Superseded {
		w.pending[h] = append(w.pending[h], notes.Apply(server, at, "superseded", 0, 0, 0))
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// serverName is the server block this server serves: --server, else the
// one evaluated.
func (w *notesWriter) serverName(ev reconcile.Evaluation) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.server == "" && ev.Plan != nil && ev.Plan.Desired != nil {
		w.server = ev.Plan.Desired.Server.Name
	}
	if w.server == "" {
		return "gitboot"
	}
	return w.server
}

// SetServer names the server block served (once the snapshot is known).
func (w *notesWriter) SetServer(name string) {
	w.mu.Lock()
	w.server = name
	w.mu.Unlock()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Run writes queued apply records at once and the node table every
// interval, until ctx is done (then it writes what is left).
func (w *notesWriter) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.flush(context.Background(), true)
			return nil
		case <-w.kick:
			w.flush(ctx, false)
		case <-t.C:
			w.flush(ctx, true)
		}
	}
}

// flush writes the queued apply records (with a table record beside each
// applied one) and, with nodes, the node records that changed since they
// were last written, on the applied commit: one notes commit.
func (w *notesWriter) flush(ctx context.Context, nodes bool) {
	w.mu.Lock()
	pending := w.pending
	w.pending = map[string][]notes.Record{}
	w.mu.Unlock()
	tracker := w.seed(pending)
	now := time.Now()
	edits := make(map[string]func([]notes.Record) []notes.Record, len(pending)+1)
	for commit, recs := range pending {
		if tracker != nil && applies(recs) {
			recs = append(recs, tracker.Table(now, nil))
		}
		edits[commit] = notes.AppendUnique(recs...)
	}
	var changed []notes.Record
	if nodes && tracker != nil {
		var applied string
		changed, applied = w.changedNodes(tracker, now)
		if len(changed) > 0 {
			add := notes.AppendUnique(append(changed, tracker.Table(now, changed))...)
			if prev, ok := edits[applied]; ok {
				edits[applied] = func(old []notes.Record) []notes.Record { return add(prev(old)) }
			} else {
				edits[applied] = add
			}
		}
	}
	if len(edits) == 0 {
		if w.unpushed {
			w.push(ctx)
		}
		return
	}
	w.mu.Lock()
	msg := "gitboot: " + w.server
	w.mu.Unlock()
	if err := w.notes.Update(edits, msg); err != nil {
		w.log.Error("writing git notes failed; retrying with the next batch", "err", err)
		w.mu.Lock()
		for c, recs := range pending {
			w.pending[c] = append(recs, w.pending[c]...)
		}
		w.mu.Unlock()
		return
	}
	if tracker != nil {
		tracker.Written(changed)
	}
	w.push(ctx)
}

// applies reports whether recs hold an applied apply record.
func applies(recs []notes.Record) bool {
	for _, r := range recs {
		if r.Type == notes.TypeApply && r.Get("result") == notes.ResultApplied {
			return true
		}
	}
	return false
}

// seed returns the tracker, made on first use from the newest node records
// already in the notes (read back from the applied commit), so a restart
// writes no record again; nil while that cannot be read (tried again next
// flush; apply records are written without a table record meanwhile).
func (w *notesWriter) seed(pending map[string][]notes.Record) *notes.Tracker {
	snap := w.snapshot()
	if w.tracker != nil && (snap == nil || snap.Server.Name == w.tracker.Server()) {
		return w.tracker
	}
	from := ""
	if snap != nil {
		from = snap.Commit
	}
	for c, recs := range pending {
		if from == "" && applies(recs) {
			from = c
		}
	}
	if from == "" {
		return nil
	}
	w.mu.Lock()
	server := w.server
	w.mu.Unlock()
	if snap != nil {
		server = snap.Server.Name
	}
	if server == "" {
		server = "gitboot"
	}
	src, err := gitsrc.Open(w.repo)
	if err != nil {
		w.log.Warn("reading the node records in git notes failed; retrying with the next batch", "err", err)
		return nil
	}
	hist, err := w.notes.Latest(notes.FirstParents(src, from))
	if err != nil {
		w.log.Warn("reading the node records in git notes failed; retrying with the next batch", "err", err)
		return nil
	}
	t := notes.NewTracker(server)
	for _, s := range hist.Servers {
		t.Seed(s.Nodes)
	}
	w.tracker = t
	return t
}

// push sends the notes ref to the remote source, if any. A push already
// under way is not cut short by the server stopping (it has a minute of
// its own); one that fails is retried with the next flush, written or not.
func (w *notesWriter) push(ctx context.Context) {
	if w.remote == "" {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := w.notes.Push(pctx, w.remote); err != nil {
		w.unpushed = true
		w.log.Warn("pushing git notes failed; retrying with the next flush", "remote", w.remote, "err", err)
		return
	}
	w.unpushed = false
}

// changedNodes returns the node records of the applied commit that changed
// in a way a reader cares about since they were last written (see
// notes.Tracker), and a reboot record when the set of nodes that need a
// reboot changed, and the applied commit; none when nothing changed.
func (w *notesWriter) changedNodes(tracker *notes.Tracker, now time.Time) ([]notes.Record, string) {
	snap := w.snapshot()
	if snap == nil || snap.Commit == "" {
		return nil, ""
	}
	names := make([]string, len(snap.Nodes))
	for i := range snap.Nodes {
		names[i] = snap.Nodes[i].Name
	}
	slices.Sort(names)
	current := httpboot.CurrentDigests(snap)
	var changed []notes.Record
	var reboot []string
	table := make([]notes.Record, 0, notesBatch)
	// notesBatch rows at a time (in name order, as one Rows call gives
	// them): the whole table at once was a copy of the status store and
	// a record per node (10 MB at 10,000 nodes) held while it was compared.
	for i := 0; i < len(names); i += notesBatch {
		table = table[:0]
		for _, r := range w.store.Rows(names[i:min(i+notesBatch, len(names))]) {
			if r.Stage == "" || r.LastSeen.IsZero() {
				continue // never seen: nothing to say
			}
			rec := nodeRecord(snap.Server.Name, r, current)
			if rec.Get("reboot") == "true" {
				reboot = append(reboot, r.Name)
			}
			table = append(table, rec)
		}
		changed = append(changed, tracker.Changed(table)...)
	}
	if rec, ok := tracker.Reboot(now, reboot); ok {
		changed = append(changed, rec)
	}
	return changed, snap.Commit
}

// notesBatch is how many status rows changedNodes compares at a time.
const notesBatch = 256

// nodeRecord is the node record of one status row.
func nodeRecord(server string, r status.NodeRecord, current func(string) (status.BootDigests, bool)) notes.Record {
	ip := ""
	if r.Addr.IsValid() {
		ip = r.Addr.String()
	}
	rec := notes.Node(server, r.Name, string(r.Stage), r.Sent, ip, r.LastSeen, r.Booted)
	if start := r.Boot.Start(); !start.IsZero() {
		// Which boot this is: a new boot is a new record.
		rec.Fields = append(rec.Fields, notes.Field{Key: "boot", Value: start.UTC().Format(time.RFC3339)})
	}
	if cur, ok := current(r.Name); ok && r.BootedDigests.NeedsReboot(cur) {
		// It runs an older commit's boot artifacts (booted=): readers of
		// the notes alone see who needed a reboot when this was written.
		rec.Fields = append(rec.Fields, notes.Field{Key: "reboot", Value: "true"})
	}
	if r.Error != nil && r.Error.Stage == status.StageInitFailed {
		// The node's /init could not exec its init: a failed boot a
		// reader of the notes must see, with the node's reason.
		rec.Fields = append(rec.Fields, notes.Field{Key: "error", Value: string(status.StageInitFailed)}, notes.Field{Key: "reason", Value: r.Error.Reason})
	}
	return rec
}

// Add queues records for the note of commit (a rollout's records); they
// are written with the next flush, at once.
func (w *notesWriter) Add(commit string, recs ...notes.Record) {
	w.mu.Lock()
	w.pending[commit] = append(w.pending[commit], recs...)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}
