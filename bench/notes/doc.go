// Package notesbench measures how the git notes grow and how fast
// `gitboot status --repo` reads them back, on a simulated site: 10,000
// nodes, 200 applied commits, 500 reboots (issue 21, item 3). Run with
//
//	go test -run '^$' -bench NotesHistory -benchtime 1x ./bench/notes
//
// (also part of `make bench`: bench/run.sh appends a line to
// bench/RESULTS.md)
//
// It reports MB-packed (the notes ref alone, as `git pack-objects` packs
// it), notes-commits, note-lines and s/status (what status --repo reads:
// the walk back from the tip and the newest record per node).
package notesbench
