package status

import (
	"fmt"
	"io"
	"time"
)

// Rejection is the last commit the server evaluated and refused to apply
// (invalid, untrusted, or too expensive to evaluate within the reload
// timeout), and why. GET /status and `gitboot status` show it while no
// newer commit was applied; the last good state is what is served.
type Rejection struct {
	Commit      string       `json:"commit"`
	Subject     string       `json:"subject,omitempty"`
	At          time.Time    `json:"at"`
	Reason      string       `json:"reason"` // one line: the first diagnostic
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
}

// Diagnostic is one problem found in a rejected commit, at its place in
// the repository when it has one.
type Diagnostic struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Summary string `json:"summary"`
	Detail  string `json:"detail,omitempty"`
}

// Summarize sets Reason from the first diagnostic: "FILE:LINE:COL: SUMMARY:
// DETAIL" (the parts it has); without diagnostics Reason stays as it is.
func (r *Rejection) Summarize() {
	if len(r.Diagnostics) == 0 {
		return
	}
	d := r.Diagnostics[0]
	r.Reason = d.Summary
	if d.File != "" {
		r.Reason = fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Summary)
	}
	if d.Detail != "" {
		r.Reason += ": " + d.Detail
	}
}

// SetRejected records the last rejected commit (nil: a newer commit was
// applied since, nothing to show).
func (s *Store) SetRejected(r *Rejection) { s.rejected.Store(r) }

// Rejected returns what SetRejected recorded last.
func (s *Store) Rejected() *Rejection { return s.rejected.Load() }

// WriteRejected prints the report's rejected commit, if any, below the
// status table: the commit, when, and each diagnostic as file:line:col.
func WriteRejected(w io.Writer, rep *Report) error {
	r := rep.LastRejected
	if r == nil {
		return nil
	}
	fmt.Fprintf(w, "\n! commit %s (%s) was rejected at %s; %s stays served:\n", ShortCommit(r.Commit), r.Subject,
		r.At.UTC().Format(time.RFC3339), ShortCommit(rep.Commit))
	if len(r.Diagnostics) == 0 {
		fmt.Fprintf(w, "  %s\n", r.Reason)
	}
	for _, d := range r.Diagnostics {
		where := ""
		if d.File != "" {
			where = fmt.Sprintf("%s:%d:%d: ", d.File, d.Line, d.Column)
		}
		line := where + d.Summary
		if d.Detail != "" {
			line += ": " + d.Detail
		}
		_, err := fmt.Fprintf(w, "  %s\n", line)
		if err != nil {
			return err
		}
	}
	return nil
}
