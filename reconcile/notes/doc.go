// Package notes reads and writes gitboot's git notes on refs/notes/gitboot:
// per evaluated commit, what a server did with it (apply records), why it
// refused it (diagnostic records) and how its nodes booted it (node records).
//
// A note is text, one record per line, "TYPE key=value ..." with logfmt
// quoting, so `git log --notes=gitboot` reads well and
// `git notes merge -s cat_sort_uniq` merges the notes of several servers
// without conflict: see Record, Format and Parse.
//
// go-git has no notes API. Notes builds notes commits with plumbing (blob,
// tree keyed by the annotated commit's hash, commit) and moves the ref the
// way git does: a refs/notes/gitboot.lock file created exclusively, written
// and renamed into place, with the old value checked under the lock
// (compare-and-swap). The tree layout (flat or fanned out as "ab/cdef...")
// follows git's own notes code, so git and gitboot agree on it.
//
// Imported by the reconcile loop (apply and diagnostic records) and the
// server's notes writer (package serve: node, table and reboot records);
// RepoStatus reads the status back from a repository (status --repo).
package notes
