package notes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// MaxWalk bounds how many commits Latest reads back from the tip when its
// stop rule is not met sooner.
const MaxWalk = 10000

// History is what the notes of a branch say, read back from its tip.
type History struct {
	// Servers are the servers met, in the order their newest applied
	// commit was met (newest first); servers with node records but no
	// applied commit on the walk come last.
	Servers []*ServerHistory
	// Rejected is the newest commit rejected after every applied one (met
	// before any applied commit), with its note's records; "" for none.
	Rejected        string
	RejectedRecords []Record
	// Walked is how many commits were read; Complete is false when the
	// walk ended (the first commit or MaxWalk) before every server's
	// nodes were found.
	Walked   int
	Complete bool
}

// ServerHistory is one server's newest applied commit and the newest record
// of each of its nodes.
type ServerHistory struct {
	Name    string
	Applied string   // "" when no applied commit was met
	Nodes   []Record // the newest node record per node, sorted by name
	// Reboot is its newest reboot record (see TypeReboot), nil if none
	// was met: then a node record's reboot=true is all there is.
	Reboot *Record

	want     int    // nodes of its newest table record; -1: none met yet
	rebootIn string // the commit whose note held Reboot
	legacy   bool
	byName   map[string]Record
	complete bool
}

// Latest reads the notes of the commits line yields (a branch's first-parent
// line, newest first) until it has, for every server met, its newest
// applied commit and the newest record of each of its nodes. Node records
// are written only when they change, on the commit applied at the time, so
// a node's newest record may be on an old commit; the stop rule is the
// newest table record of each server (see TypeTable): a server is done
// once that many of its nodes were found. Notes written before table
// records existed held a server's whole node table on every applied
// commit: for them the first note with the server's node records is the
// whole table. The walk reads at most MaxWalk commits.
func (n *Notes) Latest(line func() (string, error)) (*History, error) {
	n.mu.Lock()
	n.refresh()
	tip, err := n.ref.read()
	var t *noteTree
	if err == nil {
		t, err = n.loadTree(tip)
	}
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	h := &History{}
	byName := map[string]*ServerHistory{}
	server := func(name string) *ServerHistory {
		s := byName[name]
		if s == nil {
			s = &ServerHistory{Name: name, want: -1, byName: map[string]Record{}}
			byName[name] = s
			h.Servers = append(h.Servers, s)
		}
		return s
	}
	for h.Walked < MaxWalk {
		commit, err := line()
		if err != nil {
			return nil, err
		}
		if commit == "" {
			break
		}
		h.Walked++
		recs, err := n.readIn(t, commit)
		if err != nil {
			return nil, fmt.Errorf("reading the notes of %s: %w", commit, err)
		}
		h.note(commit, recs, server)
		if h.done() {
			h.Complete = true
			break
		}
	}
	for _, s := range h.Servers {
		s.Nodes = make([]Record, 0, len(s.byName))
		for _, r := range s.byName {
			s.Nodes = append(s.Nodes, r)
		}
		slices.SortFunc(s.Nodes, func(a, b Record) int { return strings.Compare(a.Get("name"), b.Get("name")) })
	}
	// Servers that applied something first, in the order met.
	slices.SortStableFunc(h.Servers, func(a, b *ServerHistory) int {
		return boolOrder(a.Applied == "") - boolOrder(b.Applied == "")
	})
	return h, nil
}

// NeedsReboot returns the names of the nodes the newest reboot record
// lists, and false when there is none (or it does not parse).
func (s *ServerHistory) NeedsReboot() (map[string]bool, bool) {
	if s.Reboot == nil {
		return nil, false
	}
	out := map[string]bool{}
	if v := s.Reboot.Get("nodes"); v != "" {
		names, err := hostlist.Expand(v)
		if err != nil {
			return nil, false
		}
		for _, n := range names {
			out[n] = true
		}
	}
	return out, true
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readIn reads the note of commit from the notes tree t (nil: no notes).
func (n *Notes) readIn(t *noteTree, commit string) ([]Record, error) {
	if t == nil {
		return nil, nil
	}
	key, err := parseKey(commit)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	blob, err := t.get(key)
	if err != nil || blob.IsZero() {
		return nil, err
	}
	data, err := n.readBlob(blob)
	if err != nil {
		return nil, err
	}
	recs, err := Parse(data)
	if _, ok := err.(ParseErrors); ok {
		err = nil // the lines that parse are still worth reading
	}
	return recs, err
}

// note takes in the records of one commit's note.
func (h *History) note(commit string, recs []Record, server func(string) *ServerHistory) {
	tables := map[string]int{}
	for _, r := range recs {
		switch r.Type {
		case TypeApply:
			switch r.Get("result") {
			case ResultApplied:
				if s := server(r.Get("server")); s.Applied == "" {
					s.Applied = commit
				}
			case ResultRejected:
				if h.Rejected == "" && !h.anyApplied() {
					h.Rejected, h.RejectedRecords = commit, recs
				}
			}
		case TypeReboot:
			if s := server(r.Get("server")); s.Reboot == nil || s.rebootIn == commit && r.Time("at").After(s.Reboot.Time("at")) {
				rec := r
				s.Reboot, s.rebootIn = &rec, commit
			}
		case TypeTable:
			if v, err := strconv.Atoi(r.Get("nodes")); err == nil {
				tables[r.Get("server")] = max(tables[r.Get("server")], v)
			}
		}
	}
	for name, v := range tables {
		if s := server(name); s.want < 0 && !s.legacy {
			s.want = v
		}
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Type != TypeNode {
			continue
		}
		s := server(r.Get("server"))
		seen[s.Name] = true
		if s.complete {
			continue
		}
		name := r.Get("name")
		if old, ok := s.byName[name]; !ok || newer(r, old) {
			s.byName[name] = r
		}
	}
	for name := range seen {
		if s := server(name); s.want < 0 && !s.complete {
			// A note from before table records: the server's whole table.
			s.legacy, s.complete = true, true
		}
	}
	for _, s := range h.Servers {
		if !s.complete && s.want >= 0 && len(s.byName) >= s.want {
			s.complete = true
		}
	}
}

// newer reports whether node record a is newer than b (by seen, then as
// LatestNodes decides between records seen in the same second).
func newer(a, b Record) bool {
	ta, tb := a.Time("seen"), b.Time("seen")
	return ta.After(tb) || ta.Equal(tb) && sameSecondNewer(a, b)
}

func (h *History) anyApplied() bool {
	for _, s := range h.Servers {
		if s.Applied != "" {
			return true
		}
	}
	return false
}

// done: an applied commit was met and every server met has all its nodes
// and its applied commit.
func (h *History) done() bool {
	if !h.anyApplied() {
		return false
	}
	for _, s := range h.Servers {
		if !s.complete || s.Applied == "" {
			return false
		}
	}
	return true
}

// FirstParents returns a line for Latest: the first-parent line of the
// commit tip in the repository src, newest first, read as it is needed.
func FirstParents(src *gitsrc.Source, tip string) func() (string, error) {
	const chunk = 64
	var buf []string
	next, done := tip, false
	return func() (string, error) {
		if len(buf) == 0 && !done {
			line, err := src.FirstParents(next, chunk+1)
			if err != nil {
				return "", err
			}
			if len(line) <= chunk {
				done = true
				buf = line
			} else {
				buf, next = line[:chunk], line[chunk]
			}
		}
		if len(buf) == 0 {
			return "", nil
		}
		c := buf[0]
		buf = buf[1:]
		return c, nil
	}
}
