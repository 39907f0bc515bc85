package serve

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// notesWriter writes what the server does to refs/notes/gitboot of its
// repository: an apply record (and, for a rejected commit, its
// diagnostics) for every commit evaluated, written at once; and the node
// table of the applied commit, batched: at most one notes commit per
// interval, only when a node's stage, file sent, address or booted commit
// changed (heartbeats alone write nothing). A remote source gets its
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
	written map[string]string // node name -> what was last written (without seen)
	applied string            // the commit whose node table was last written

	unpushed bool // a push failed: push again at the next flush (Run's goroutine only)
}

func newNotesWriter(log *slog.Logger, repo, remote, server string, interval time.Duration, store *status.Store, snapshot func() *bootsvc.Snapshot) (*notesWriter, error) {
	n, err := notes.Open(repo)
	if err != nil {
		return nil, err
	}
	return &notesWriter{log: log.With("svc", "notes"), notes: n, server: server, remote: remote, interval: interval,
		store: store, snapshot: snapshot, pending: map[string][]notes.Record{}, kick: make(chan struct{}, 1),
		written: map[string]string{}}, nil
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

// flush writes the queued apply records and, with nodes, the applied
// commit's node table if it changed: one notes commit.
func (w *notesWriter) flush(ctx context.Context, nodes bool) {
	w.mu.Lock()
	pending := w.pending
	w.pending = map[string][]notes.Record{}
	w.mu.Unlock()
	edits := make(map[string]func([]notes.Record) []notes.Record, len(pending)+1)
	for commit, recs := range pending {
		edits[commit] = notes.AppendUnique(recs...)
	}
	var table []notes.Record
	var written map[string]string
	var applied string
	if nodes {
		table, written, applied = w.nodeTable()
		if table != nil {
			replace := notes.ReplaceNodes(table[0].Get("server"), table)
			if add, ok := edits[applied]; ok {
				edits[applied] = func(old []notes.Record) []notes.Record { return replace(add(old)) }
			} else {
				edits[applied] = replace
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
	if table != nil {
		w.mu.Lock()
		w.written, w.applied = written, applied
		w.mu.Unlock()
	}
	w.push(ctx)
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

// nodeTable returns the node records of the applied commit when a node's
// stage, file sent, address or booted commit changed since the last write
// (or the applied commit did); nil when nothing changed.
func (w *notesWriter) nodeTable() ([]notes.Record, map[string]string, string) {
	snap := w.snapshot()
	if snap == nil || snap.Commit == "" {
		return nil, nil, ""
	}
	names := make([]string, len(snap.Nodes))
	for i := range snap.Nodes {
		names[i] = snap.Nodes[i].Name
	}
	rows := w.store.Rows(names)
	current := httpboot.CurrentDigests(snap)
	table := make([]notes.Record, 0, len(rows))
	written := make(map[string]string, len(rows))
	for _, r := range rows {
		if r.Stage == "" || r.LastSeen.IsZero() {
			continue // never seen: nothing to say
		}
		ip := ""
		if r.Addr.IsValid() {
			ip = r.Addr.String()
		}
		rec := notes.Node(snap.Server.Name, r.Name, string(r.Stage), r.Sent, ip, r.LastSeen, r.Booted)
		cur, ok := current(r.Name)
		reboot := ok && r.BootedDigests.NeedsReboot(cur)
		if reboot {
			// It runs an older commit's boot artifacts (booted=): readers of
			// the notes alone see who needs a reboot.
			rec.Fields = append(rec.Fields, notes.Field{Key: "reboot", Value: "true"})
		}
		failed := ""
		if r.Error != nil && r.Error.Stage == status.StageInitFailed {
			// The node's /init could not exec its init: a failed boot a
			// reader of the notes must see, with the node's reason.
			failed = r.Error.Reason
			rec.Fields = append(rec.Fields, notes.Field{Key: "error", Value: string(status.StageInitFailed)}, notes.Field{Key: "reason", Value: failed})
		}
		table = append(table, rec)
		written[r.Name] = string(r.Stage) + "\x00" + r.Sent + "\x00" + ip + "\x00" + r.Booted + "\x00" + strconv.FormatBool(reboot) + "\x00" + failed
	}
	w.mu.Lock()
	same := w.applied == snap.Commit && len(written) == len(w.written)
	if same {
		for k, v := range written {
			if w.written[k] != v {
				same = false
				break
			}
		}
	}
	w.mu.Unlock()
	if same || len(table) == 0 {
		return nil, nil, ""
	}
	return table, written, snap.Commit
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
