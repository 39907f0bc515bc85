package status

import (
	"strings"
	"testing"
	"time"
)

// TestWriteRejected: the lines gitboot status prints below the table for
// a rejected commit: the commit, when, what stays served, and each
// diagnostic at its place.
func TestWriteRejected(t *testing.T) {
	var b strings.Builder
	if err := WriteRejected(&b, &Report{Commit: "1111111aaaa"}); err != nil || b.Len() != 0 {
		t.Fatalf("nothing rejected: %q %v", b.String(), err)
	}
	r := &Rejection{Commit: "2222222bbbb", Subject: "broken", At: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC),
		Diagnostics: []Diagnostic{
			{File: "nodes.hcl", Line: 12, Column: 14, Summary: "IP address outside its network", Detail: `"10.0.0.9" is not in 10.99.0.0/24`},
			{Summary: "Commit too expensive"},
		}}
	r.Summarize()
	if r.Reason != `nodes.hcl:12:14: IP address outside its network: "10.0.0.9" is not in 10.99.0.0/24` {
		t.Errorf("Reason %q", r.Reason)
	}
	if err := WriteRejected(&b, &Report{Commit: "1111111aaaa", LastRejected: r}); err != nil {
		t.Fatal(err)
	}
	want := "\n! commit 2222222 (broken) was rejected at 2026-11-30T01:02:03Z; 1111111 stays served:\n" +
		"  nodes.hcl:12:14: IP address outside its network: \"10.0.0.9\" is not in 10.99.0.0/24\n" +
		"  Commit too expensive\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
