package notes

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Push to a file:// bare remote; then, with the remote moved on by another
// server, Push merges and pushes again, and no record is lost.
func TestPush(t *testing.T) {
	ctx := context.Background()
	a, commits := newRepo(t, 3)
	remote := filepath.Join(t.TempDir(), "remote.git")
	git(t, "", "", "clone", "-q", "--bare", a, remote)
	url := "file://" + remote
	b := copyRepo(t, a)
	na, nb := mustOpen(t, a), mustOpen(t, b)

	if err := na.Push(ctx, url); err != nil {
		t.Fatalf("Push with no notes: %v", err)
	}
	first := Apply("head", t0, ResultApplied, 1, 0, 0)
	if err := na.Update(map[string]func([]Record) []Record{commits[0]: AppendUnique(first)}, "a1"); err != nil {
		t.Fatal(err)
	}
	if err := na.Push(ctx, url); err != nil {
		t.Fatal(err)
	}
	if got := git(t, remote, "", "notes", "--ref=gitboot", "show", commits[0]); got != first.String() {
		t.Fatalf("remote note: %q", got)
	}
	if err := na.Push(ctx, url); err != nil {
		t.Fatalf("Push up to date: %v", err)
	}

	// Server row2 pushes its own notes first (its history does not have a1).
	theirs := []Record{Apply("row2", t0, ResultApplied, 1, 0, 0), Node("row2", "r01", "DHCP", "", "", t1, "")}
	if err := nb.Update(map[string]func([]Record) []Record{
		commits[0]: AppendUnique(theirs...), commits[2]: AppendUnique(theirs[0]),
	}, "b1"); err != nil {
		t.Fatal(err)
	}
	git(t, b, "", "fetch", "-q", url, Ref+":refs/notes/remote")
	git(t, b, "", "notes", "--ref=gitboot", "merge", "-q", "-s", "cat_sort_uniq", "refs/notes/remote")
	if err := mustOpen(t, b).Push(ctx, url); err != nil {
		t.Fatal(err)
	}
	// head writes more, and its push is not a fast-forward.
	mine := Node("head", "c001", "IMAGE", "img", "", t1, "")
	if err := na.Update(map[string]func([]Record) []Record{
		commits[0]: AppendUnique(mine), commits[1]: AppendUnique(mine),
	}, "a2"); err != nil {
		t.Fatal(err)
	}
	if err := na.Push(ctx, url); err != nil {
		t.Fatal(err)
	}
	want := map[string][]Record{
		commits[0]: {first, mine, theirs[0], theirs[1]},
		commits[1]: {mine},
		commits[2]: {theirs[0]},
	}
	for c, recs := range want {
		got := git(t, remote, "", "notes", "--ref=gitboot", "show", c) + "\n"
		if w := string(Format(Canonical(recs))); got != w {
			t.Errorf("remote note on %s:\n%s\nwant:\n%s", c[:7], got, w)
		}
	}
	if parents := strings.Fields(git(t, remote, "", "log", "-1", "--format=%P", Ref)); len(parents) != 2 {
		t.Errorf("the remote's notes tip is not a merge: parents %v", parents)
	}
	if local, rem := git(t, a, "", "rev-parse", Ref), git(t, remote, "", "rev-parse", Ref); local != rem {
		t.Errorf("local notes %s, remote %s", local, rem)
	}
	if refs := git(t, a, "", "for-each-ref", "refs/gitboot/"); refs != "" {
		t.Errorf("temporary refs left: %s", refs)
	}
	fsck(t, a)
	fsck(t, remote)
}
