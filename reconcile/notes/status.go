package notes

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// maxNotesWalk bounds how far back status --repo looks for the applied
// commit of each server.
const maxNotesWalk = 500

// RepoStatus builds the node table from the repository's git notes alone
// (no server asked): for each server that wrote notes, the newest commit it
// applied on ref's first-parent line, and the newest record of each node
// on that commit. Nodes of several servers are listed together. A commit
// rejected after the newest applied one is the report's LastRejected.
func RepoStatus(_ context.Context, repo, ref string) (*status.Report, error) {
	src, err := gitsrc.Open(repo)
	if err != nil {
		return nil, err
	}
	tip, err := src.Resolve(ref)
	if err != nil {
		return nil, err
	}
	n, err := Open(repo)
	if err != nil {
		return nil, err
	}
	line, err := src.FirstParents(tip.Hash, maxNotesWalk)
	if err != nil {
		return nil, err
	}
	rep := &status.Report{Now: time.Now().UTC(), Nodes: []status.NodeRecord{}, Unknown: []status.Unknown{}, Errors: []status.Failure{}}
	applied := map[string]string{} // server -> its newest applied commit
	var servers []string
	for _, commit := range line {
		recs, err := n.Read(commit)
		if err != nil {
			return nil, fmt.Errorf("reading the notes of %s: %w", commit, err)
		}
		if len(servers) == 0 && rep.LastRejected == nil {
			rep.LastRejected = rejectedIn(commit, recs)
		}
		for _, r := range recs {
			srv := r.Get("server")
			if r.Type != TypeApply || r.Get("result") != "applied" || applied[srv] != "" {
				continue
			}
			applied[srv] = commit
			servers = append(servers, srv)
			for _, nr := range LatestNodes(recs) {
				if nr.Get("server") != srv {
					continue
				}
				row := status.NodeRecord{Name: nr.Get("name"), Stage: status.Stage(nr.Get("stage")), Sent: nr.Get("sent"),
					LastSeen: nr.Time("seen"), Booted: nr.Get("booted"), NeedsReboot: nr.Get("reboot") == "true"}
				if a, err := netip.ParseAddr(nr.Get("ip")); err == nil {
					row.Addr = a
				}
				rep.Nodes = append(rep.Nodes, row)
			}
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("no gitboot notes on the last %d commits of %s in %s: no server applied them yet, or the notes were not fetched (git fetch origin refs/notes/gitboot:refs/notes/gitboot)", len(line), ref, repo)
	}
	slices.SortFunc(rep.Nodes, func(a, b status.NodeRecord) int { return strings.Compare(a.Name, b.Name) })
	rep.Server = strings.Join(servers, ", ")
	rep.Commit = applied[servers[0]]
	rep.IntervalSeconds = 60
	return rep, nil
}

// rejectedIn returns the rejection a commit's notes record, with its
// diagnostics, or nil.
func rejectedIn(commit string, recs []Record) *status.Rejection {
	var r *status.Rejection
	for _, rec := range recs {
		if rec.Type == TypeApply && rec.Get("result") == ResultRejected && r == nil {
			r = &status.Rejection{Commit: commit, At: rec.Time("at")}
		}
	}
	if r == nil {
		return nil
	}
	for _, rec := range recs {
		if rec.Type != TypeDiagnostic {
			continue
		}
		d := status.Diagnostic{File: rec.Get("file"), Summary: rec.Get("summary")}
		d.Line, _ = strconv.Atoi(rec.Get("line"))
		d.Column, _ = strconv.Atoi(rec.Get("col"))
		r.Diagnostics = append(r.Diagnostics, d)
	}
	r.Reason = "rejected"
	r.Summarize()
	return r
}
