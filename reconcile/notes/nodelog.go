package notes

import (
	"strconv"
	"time"

	"github.com/gitboot/gitboot/internal/hostlist"
)

// TypeTable is the record a server writes beside the node records of each
// batch: how many nodes it holds records of, in this note or in the notes
// of older commits on the branch. It is the stop rule of Latest: a reader
// walking back from the tip has every node's newest record once it has
// found that many nodes.
//
//	table server=head at=2026-11-25T15:01:10Z nodes=10000
const TypeTable = "table"

// Table is the record that server holds node records of nodes nodes, as of
// at (see TypeTable).
func Table(server string, at time.Time, nodes int) Record {
	return Record{Type: TypeTable, Fields: []Field{
		{"server", server},
		{"at", formatTime(at)},
		{"nodes", strconv.Itoa(nodes)},
	}}
}

// TypeReboot is the record of which of a server's nodes run older boot
// artifacts than it serves (need a reboot to pick a change up), as a
// hostlist expression; written when that set changes, so a commit that
// changes every node's artifacts is one line, not one per node.
//
//	reboot server=head at=2026-11-25T15:01:10Z nodes=c[0001-0400,0402]
const TypeReboot = "reboot"

// Reboot is the record that, as of at, the nodes names of server need a
// reboot (none: nodes="").
func Reboot(server string, at time.Time, names []string) Record {
	return Record{Type: TypeReboot, Fields: []Field{
		{"server", server},
		{"at", formatTime(at)},
		{"nodes", hostlist.Compress(names)},
	}}
}

// finalStages are the stages a boot ends in: the node runs (RUNTIME_OVERLAY
// is fetched again every interval) or it failed. Any other stage is a boot
// under way.
var finalStages = map[string]bool{
	"RUNTIME_OVERLAY": true,
	"NOT_FOUND":       true,
	"BAD_REQUEST":     true,
	"DENIED":          true,
	"INIT_FAILED":     true,
}

// significant is what of a node record a reader of the notes cares about:
// which boot it is (boot=, when it started), whether that boot is under
// way or ended (and in which final or failed stage), the commit it booted,
// its address and a failure. Heartbeats (a later seen=), the file last
// sent during a boot and the reboot flag (which every commit that changes
// a node's artifacts would flip at once) are not.
func significant(r Record) string {
	stage := r.Get("stage")
	if !finalStages[stage] {
		stage = "booting"
	}
	return stage + "\x00" + r.Get("boot") + "\x00" + r.Get("booted") + "\x00" + r.Get("ip") + "\x00" + r.Get("error") + "\x00" + r.Get("reason")
}

// Tracker decides which node records a server writes: a node's record when
// what a reader cares about changed since the record last written for it
// (see significant), not the whole table every batch. It remembers every
// node it wrote (or was seeded with), so the Table record it makes counts
// them. A Tracker is not safe for concurrent use.
type Tracker struct {
	server string
	last   map[string]string // node name -> significant(last record written)
	reboot *string           // nodes= of the last reboot record written; nil: none
}

// NewTracker tracks the node records of server.
func NewTracker(server string) *Tracker {
	return &Tracker{server: server, last: map[string]string{}}
}

// Server is the server whose node records t tracks.
func (t *Tracker) Server() string { return t.server }

// Seed remembers records already in the notes (the newest per node and
// the newest reboot record, as Latest returns them), so a restarted server does not write them again.
// Records of other servers are ignored.
func (t *Tracker) Seed(recs []Record) { t.Written(recs) }

// Changed returns the records of recs (server's current node records)
// that differ from what was last written for their node in a way a reader
// cares about, in the order given. It does not remember them: call Written
// once they are in the notes.
func (t *Tracker) Changed(recs []Record) []Record {
	var out []Record
	for _, r := range recs {
		if r.Type != TypeNode || r.Get("server") != t.server {
			continue
		}
		if s, ok := t.last[r.Get("name")]; !ok || s != significant(r) {
			out = append(out, r)
		}
	}
	return out
}

// Written remembers recs as written.
func (t *Tracker) Written(recs []Record) {
	for _, r := range recs {
		if r.Get("server") != t.server {
			continue
		}
		switch r.Type {
		case TypeNode:
			t.last[r.Get("name")] = significant(r)
		case TypeReboot:
			v := r.Get("nodes")
			t.reboot = &v
		}
	}
}

// Reboot returns the reboot record of names (the nodes that need a reboot
// now) and whether it differs from the one last written.
func (t *Tracker) Reboot(at time.Time, names []string) (Record, bool) {
	r := Reboot(t.server, at, names)
	return r, t.reboot == nil && len(names) > 0 || t.reboot != nil && *t.reboot != r.Get("nodes")
}

// Table is the TypeTable record of the nodes written so far plus those of
// pending (about to be written), as of at.
func (t *Tracker) Table(at time.Time, pending []Record) Record {
	n := len(t.last)
	for _, r := range pending {
		if _, ok := t.last[r.Get("name")]; !ok && r.Type == TypeNode {
			n++
		}
	}
	return Table(t.server, at, n)
}
