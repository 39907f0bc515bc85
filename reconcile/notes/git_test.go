package notes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// go-git reads what `git notes add` wrote, flat.
func TestReadGitNotesFlat(t *testing.T) {
	dir, commits := newRepo(t, 3)
	git(t, dir, "", "notes", "--ref=gitboot", "add", "-m", "apply server=head at=2026-11-25T15:00:00Z result=applied add=2 change=1 destroy=0", commits[1])
	n := mustOpen(t, dir)
	recs, err := n.Read(commits[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Get("result") != "applied" {
		t.Errorf("Read = %v", recs)
	}
	if recs, err := n.Read(commits[0]); recs != nil || err != nil {
		t.Errorf("Read of a commit without a note = %v, %v", recs, err)
	}
	if _, err := n.Read("main"); err == nil {
		t.Error("Read(\"main\") took a name for a hash")
	}
}

// gitNotes300 makes a repository with 300 commits, each with a note
// written by git (in one `git notes copy`), so git fanned the tree out. The
// note on commit i says "apply server=git n=0" (the same blob for all).
func gitNotes300(t testing.TB) (string, []string) {
	dir, commits := newRepo(t, 300)
	git(t, dir, "", "notes", "--ref=gitboot", "add", "-m", "apply server=git n=0", commits[0])
	var pairs strings.Builder
	for _, c := range commits[1:] {
		fmt.Fprintf(&pairs, "%s %s\n", commits[0], c)
	}
	git(t, dir, pairs.String(), "notes", "--ref=gitboot", "copy", "--stdin")
	return dir, commits
}

// go-git reads the fanned-out tree git writes once there are many notes.
func TestReadGitNotesFanout(t *testing.T) {
	dir, commits := gitNotes300(t)
	git(t, dir, "", "notes", "--ref=gitboot", "add", "-f", "-m", "node server=git name=c150", commits[150])
	if !fannedOut(t, dir) {
		t.Fatalf("git did not fan out: %v", topEntries(t, dir))
	}
	n := mustOpen(t, dir)
	for i, want := range map[int]string{150: "node server=git name=c150\n", 7: "apply server=git n=0\n"} {
		recs, err := n.Read(commits[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := string(Format(recs)); got != want {
			t.Errorf("note on commit %d = %q, want %q", i, got, want)
		}
	}
}

// git reads what Update writes: `git notes show`, `git log --notes`, and
// the repository stays fsck-clean.
func TestGitReadsUpdate(t *testing.T) {
	dir, commits := newRepo(t, 3)
	n := mustOpen(t, dir)
	apply := Apply("head", t0, ResultRejected, 0, 0, 0)
	diag := Diagnostic("head", "nodes.hcl", 12, 14, "IP address outside its network")
	err := n.Update(map[string]func([]Record) []Record{
		commits[1]: AppendUnique(apply, diag),
		commits[2]: AppendUnique(Apply("head", t1, ResultApplied, 2, 1, 0)),
	}, "gitboot: evaluated 2 commits")
	if err != nil {
		t.Fatal(err)
	}
	want := string(Format([]Record{apply, diag}))
	if got := git(t, dir, "", "notes", "--ref=gitboot", "show", commits[1]) + "\n"; got != want {
		t.Errorf("git notes show:\n%s\nwant:\n%s", got, want)
	}
	log := git(t, dir, "", "log", "--notes=gitboot", "--format=%H%n%N")
	if !strings.Contains(log, commits[1]+"\n"+want) || !strings.Contains(log, "result=applied add=2") {
		t.Errorf("git log --notes=gitboot:\n%s", log)
	}
	if got := git(t, dir, "", "log", "-1", "--format=%s%n%an <%ae>", Ref); got != "gitboot: evaluated 2 commits\ngitboot <gitboot@localhost>" {
		t.Errorf("notes commit: %q", got)
	}
	// A work tree logs notes updates, as git does.
	if reflog := git(t, dir, "", "reflog", "show", Ref); !strings.Contains(reflog, "notes: gitboot: evaluated 2 commits") {
		t.Errorf("reflog: %q", reflog)
	}
	fsck(t, dir)

	// An edit that changes nothing writes nothing.
	tip := git(t, dir, "", "rev-parse", Ref)
	if err := n.Update(map[string]func([]Record) []Record{commits[1]: AppendUnique(diag)}, "again"); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "", "rev-parse", Ref); got != tip {
		t.Errorf("a no-op Update moved the ref")
	}
	// An empty result removes the note, as `git notes remove` does.
	err = n.Update(map[string]func([]Record) []Record{commits[2]: func([]Record) []Record { return nil }}, "remove")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := gitErr(dir, "", "notes", "--ref=gitboot", "show", commits[2]); err == nil {
		t.Errorf("note still there: %s", out)
	}
	fsck(t, dir)
}

// The ref only in packed-refs (after `git pack-refs`) is read and updated.
func TestPackedRef(t *testing.T) {
	dir, commits := newRepo(t, 2)
	n := mustOpen(t, dir)
	if err := n.Update(map[string]func([]Record) []Record{commits[0]: AppendUnique(Apply("a", t0, ResultApplied, 0, 0, 0))}, "one"); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "", "pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(dir, ".git", Ref)); !os.IsNotExist(err) {
		t.Fatalf("the ref is still loose: %v", err)
	}
	if recs, err := n.Read(commits[0]); err != nil || len(recs) != 1 {
		t.Fatalf("Read from packed-refs = %v, %v", recs, err)
	}
	if err := n.Update(map[string]func([]Record) []Record{commits[1]: AppendUnique(Apply("a", t1, ResultApplied, 0, 0, 0))}, "two"); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "", "rev-list", "--count", Ref); got != "2" {
		t.Errorf("notes history has %s commits, want 2", got)
	}
	fsck(t, dir)
}

// sameBlobEdit sets a note to exactly data.
func sameBlobEdit(data string) func([]Record) []Record {
	return func([]Record) []Record { return mustParseString(data) }
}

func mustParseString(s string) []Record {
	recs, err := Parse([]byte(s))
	if err != nil {
		panic(err)
	}
	return recs
}

// Update leaves the notes tree git would: the same note changes made by
// git and by Update, from the same start, give the same tree, flat and fanned out.
func TestTreeLayoutMatchesGit(t *testing.T) {
	t.Run("empty to 300 in one batch", func(t *testing.T) {
		byGit, commits := gitNotes300(t)
		ours, _ := newRepo(t, 300) // fast-import is deterministic: same commits
		edits := map[string]func([]Record) []Record{}
		for _, c := range commits {
			edits[c] = sameBlobEdit("apply server=git n=0\n")
		}
		if err := mustOpen(t, ours).Update(edits, "300"); err != nil {
			t.Fatal(err)
		}
		if a, b := notesTree(t, ours), notesTree(t, byGit); a != b {
			t.Errorf("tree %s, git wrote %s", a, b)
		}
		fsck(t, ours)
	})
	t.Run("fanned out, change one and add one", func(t *testing.T) {
		byGit, commits := gitNotes300(t)
		// One more commit to annotate, in both repositories.
		extra := git(t, byGit, "", "commit-tree", "-m", "x", "main^{tree}")
		ours := copyRepo(t, byGit)
		note := "node server=head name=c001 stage=DHCP\n"
		blob := git(t, byGit, note, "hash-object", "-w", "--stdin")
		git(t, byGit, "", "notes", "--ref=gitboot", "add", "-f", "-C", blob, commits[42])
		git(t, byGit, "", "notes", "--ref=gitboot", "add", "-f", "-C", blob, extra)
		err := mustOpen(t, ours).Update(map[string]func([]Record) []Record{
			commits[42]: sameBlobEdit(note), extra: sameBlobEdit(note),
		}, "two")
		if err != nil {
			t.Fatal(err)
		}
		if a, b := notesTree(t, ours), notesTree(t, byGit); a != b {
			t.Errorf("tree %s, git wrote %s", a, b)
		}
		fsck(t, ours)
	})
	t.Run("flat, add one", func(t *testing.T) {
		byGit, commits := newRepo(t, 12)
		for _, c := range commits[:10] {
			git(t, byGit, "", "notes", "--ref=gitboot", "add", "-m", "apply server=git", c)
		}
		ours := copyRepo(t, byGit)
		git(t, byGit, "", "notes", "--ref=gitboot", "add", "-m", "apply server=x", commits[11])
		if err := mustOpen(t, ours).Update(map[string]func([]Record) []Record{commits[11]: sameBlobEdit("apply server=x\n")}, "x"); err != nil {
			t.Fatal(err)
		}
		if a, b := notesTree(t, ours), notesTree(t, byGit); a != b {
			t.Errorf("tree %s, git wrote %s", a, b)
		}
		if top := topEntries(t, ours); len(top) != 11 || len(top[0]) != 40 {
			t.Errorf("not flat: %v", top)
		}
	})
	t.Run("Update keeps git's fan-out, git reads Update's", func(t *testing.T) {
		dir, commits := gitNotes300(t)
		n := mustOpen(t, dir)
		err := n.Update(map[string]func([]Record) []Record{commits[299]: AppendUnique(Node("h", "c9", "IMAGE", "", "", t0, ""))}, "x")
		if err != nil {
			t.Fatal(err)
		}
		if !fannedOut(t, dir) {
			t.Errorf("fan-out lost: %v", topEntries(t, dir))
		}
		for _, i := range []int{0, 150, 299} {
			show := git(t, dir, "", "notes", "--ref=gitboot", "show", commits[i])
			if !strings.HasPrefix(show, "apply server=git n=0") {
				t.Errorf("git notes show %d: %q", i, show)
			}
		}
		fsck(t, dir)
	})
}

// `git notes merge -s cat_sort_uniq` of two writers' notes keeps every
// record, and reads back through Notes.
func TestGitMergeCatSortUniq(t *testing.T) {
	a, commits := newRepo(t, 3)
	b := copyRepo(t, a)
	na, nb := mustOpen(t, a), mustOpen(t, b)
	shared := Apply("head", t0, ResultApplied, 1, 0, 0)
	for i, n := range []*Notes{na, nb} {
		server := []string{"head", "row2"}[i]
		err := n.Update(map[string]func([]Record) []Record{
			commits[0]:   AppendUnique(shared, Node(server, "c001", "DHCP", "", "", t0, "")),
			commits[i+1]: AppendUnique(Apply(server, t1, ResultPlanned, 0, 1, 0)),
		}, "by "+server)
		if err != nil {
			t.Fatal(err)
		}
	}
	noteA := git(t, a, "", "notes", "--ref=gitboot", "show", commits[0]) + "\n"
	noteB := git(t, b, "", "notes", "--ref=gitboot", "show", commits[0]) + "\n"
	git(t, a, "", "fetch", "-q", b, "+"+Ref+":refs/notes/row2")
	git(t, a, "", "notes", "--ref=gitboot", "merge", "-q", "-s", "cat_sort_uniq", "refs/notes/row2")
	fsck(t, a)
	na = mustOpen(t, a)
	recs, err := na.Read(commits[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "apply server=head at=2026-11-25T15:00:00Z result=applied add=1 change=0 destroy=0\n" +
		"node server=head name=c001 stage=DHCP sent= ip= seen=2026-11-25T15:00:00Z booted=\n" +
		"node server=row2 name=c001 stage=DHCP sent= ip= seen=2026-11-25T15:00:00Z booted=\n"
	if got := string(Format(recs)); got != want {
		t.Errorf("merged note:\n%s\nwant:\n%s", got, want)
	}
	for i := 1; i <= 2; i++ {
		if recs, _ := na.Read(commits[i]); len(recs) != 1 {
			t.Errorf("note on commit %d: %v", i, recs)
		}
	}
	// What git merged is what catSortUniq makes of the two notes.
	merged := git(t, a, "", "notes", "--ref=gitboot", "show", commits[0]) + "\n"
	if got := string(catSortUniq([]byte(noteA), []byte(noteB))); got != merged {
		t.Errorf("catSortUniq:\n%s\ngit merged:\n%s", got, merged)
	}
}

// fannedOut reports whether the top notes tree holds only "ab" directories.
func fannedOut(t testing.TB, dir string) bool {
	for _, e := range topEntries(t, dir) {
		if len(e) != 2 {
			return false
		}
	}
	return true
}
