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

// RepoStatus builds the node table from the repository's git notes alone
// (no server asked): for each server that wrote notes, the newest commit it
// applied on ref's first-parent line, and the newest record of each of its
// nodes, read back until the stop rule of Latest is met. Nodes of
// several servers are listed together. A commit rejected after the newest
// applied one is the report's LastRejected.
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
	hist, err := n.Latest(FirstParents(src, tip.Hash))
	if err != nil {
		return nil, err
	}
	rep := &status.Report{Now: time.Now().UTC(), Nodes: []status.NodeRecord{}, Unknown: []status.Unknown{}, Errors: []status.Failure{}}
	if hist.Rejected != "" {
		rep.LastRejected = rejectedIn(hist.Rejected, hist.RejectedRecords)
	}
	var servers []string
	for _, s := range hist.Servers {
		if s.Applied == "" {
			continue
		}
		if len(servers) == 0 {
			rep.Commit = s.Applied
		}
		servers = append(servers, s.Name)
		reboot, ok := s.NeedsReboot()
		for _, nr := range s.Nodes {
			row := status.NodeRecord{Name: nr.Get("name"), Stage: status.Stage(nr.Get("stage")), Sent: nr.Get("sent"),
				LastSeen: nr.Time("seen"), Booted: nr.Get("booted"), NeedsReboot: nr.Get("reboot") == "true"}
			if ok {
				row.NeedsReboot = reboot[row.Name]
			}
			if a, err := netip.ParseAddr(nr.Get("ip")); err == nil {
				row.Addr = a
			}
			rep.Nodes = append(rep.Nodes, row)
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("no gitboot notes on the last %d commits of %s in %s: no server applied them yet, or the notes were not fetched (git fetch origin refs/notes/gitboot:refs/notes/gitboot)", hist.Walked, ref, repo)
	}
	slices.SortFunc(rep.Nodes, func(a, b status.NodeRecord) int { return strings.Compare(a.Name, b.Name) })
	rep.Server = strings.Join(servers, ", ")
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
