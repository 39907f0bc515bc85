package notes

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSharedRepositoryKeepsWorking: root (or, for a group-shared one, a
// member of its group) writes notes, for a while, into a
// bare repository an unprivileged user owns and pushes to; that user then
// pushes 60 new files and runs git gc, and both succeed. Everything the
// notes writer made belongs to the user, with git's shared modes when
// core.sharedRepository says so.
func TestSharedRepositoryKeepsWorking(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (useradd, writing as root into another user's repository)")
		}
		t.Skip("needs root: it adds a user and writes as root into that user's repository")
	}
	for _, tc := range []struct {
		shared string
		member bool // the writer is not root but a member of the owner's group
	}{{"", false}, {"group", false}, {"group", true}} {
		t.Run(fmt.Sprintf("shared=%s,member=%t", tc.shared, tc.member), func(t *testing.T) { testSharedRepository(t, tc.shared, tc.member) })
	}
}

// TestHelperNotesWriter is the notes writer run as another user by
// testSharedRepository (it re-executes the test binary); it does nothing
// in a normal run.
func TestHelperNotesWriter(t *testing.T) {
	repo, head := os.Getenv("GITBOOT_TEST_NOTES_REPO"), os.Getenv("GITBOOT_TEST_NOTES_COMMIT")
	if repo == "" {
		t.Skip("helper of TestSharedRepositoryKeepsWorking")
	}
	writeNotes(t, repo, head)
}

// writeNotes is serve's notes writer at work: a note per status change,
// 150 times.
func writeNotes(t *testing.T, repo, head string) {
	t.Helper()
	n, err := Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 150 {
		rec := Node("head", fmt.Sprintf("c%03d", i), "RUNTIME_OVERLAY", "runtime.img", "10.0.0.1", at.Add(time.Duration(i)*time.Second), head[:7])
		if err := n.Update(map[string]func([]Record) []Record{head: AppendUnique(rec)}, "gitboot: status"); err != nil {
			t.Fatal(err)
		}
	}
}

func testSharedRepository(t *testing.T, shared string, member bool) {
	for _, tool := range []string{"useradd", "userdel", "runuser", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (package passwd/util-linux/git): %v", tool, err)
		}
	}
	u := newOwnerUser(t)
	bare, work := filepath.Join(u.home, "cluster.git"), filepath.Join(u.home, "work")
	initArgs := []string{"init", "-q", "--bare", "-b", "main"}
	if shared != "" {
		initArgs = append(initArgs, "--shared="+shared)
	}
	u.mustGit(t, u.home, append(initArgs, bare)...)
	u.mustGit(t, u.home, "init", "-q", "-b", "main", work)
	u.write(t, filepath.Join(work, "main.hcl"), "# cluster\n")
	u.mustGit(t, work, "add", "-A")
	u.mustGit(t, work, "commit", "-q", "-m", "first")
	u.mustGit(t, work, "push", "-q", bare, "main")
	head := strings.TrimSpace(u.mustGit(t, work, "rev-parse", "HEAD"))

	if !member {
		writeNotes(t, bare, head)
	} else {
		writeNotesAsMember(t, u, bare, head)
	}
	n, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	checkRepoOwners(t, u, bare, shared, member)

	// The owner pushes 60 new files (loose objects: fewer than
	// transfer.unpackLimit) and runs git gc.
	for i := range 60 {
		u.write(t, filepath.Join(work, fmt.Sprintf("node-%02d.hcl", i)), fmt.Sprintf("# node %d %s\n", i, u.name))
	}
	u.mustGit(t, work, "add", "-A")
	u.mustGit(t, work, "commit", "-q", "-m", "sixty nodes")
	if out, err := u.git(work, "push", bare, "main"); err != nil {
		t.Fatalf("the owner's push after root wrote notes: %v\n%s", err, out)
	}
	if out, err := u.git(bare, "gc", "--prune=now"); err != nil || strings.Contains(out, "Permission denied") || strings.Contains(out, "warning") {
		t.Fatalf("the owner's git gc after root wrote notes: %v\n%s", err, out)
	}
	if out, err := u.git(bare, "fsck", "--no-progress"); err != nil {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
	// The notes survive and root can keep writing after the gc.
	if recs, err := n.Read(head); err != nil || len(recs) != 150 {
		t.Fatalf("notes after gc: %d records, %v", len(recs), err)
	}
	if err := n.Update(map[string]func([]Record) []Record{head: AppendUnique(Apply("head", at, ResultApplied, 1, 0, 0))}, "gitboot: applied"); err != nil {
		t.Fatal(err)
	}
}

// ownerUser is a user made for the test who owns the repository, with a
// home under top (a directory the user can reach).
type ownerUser struct {
	name      string
	uid, gid  int
	top, home string
}

// newOwnerUser adds the user and makes its home.
func newOwnerUser(t *testing.T) *ownerUser {
	u := &ownerUser{}
	u.name, u.uid, u.gid = addUser(t)

	// t.TempDir's parent is 0700 root: the user could not reach it.
	top, err := os.MkdirTemp("", "gitboot-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	u.top, u.home = top, filepath.Join(top, "home")
	if err := os.Mkdir(u.home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(u.home, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return u
}

// git runs git as the user in dir.
func (u *ownerUser) git(dir string, args ...string) (string, error) {
	cmd := exec.Command("runuser", append([]string{"-u", u.name, "--", "git"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + u.home, "PATH=" + os.Getenv("PATH")}, gitEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustGit runs git as the user in dir; it must succeed.
func (u *ownerUser) mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := u.git(dir, args...)
	if err != nil {
		t.Fatalf("git %s as %s: %v\n%s", strings.Join(args, " "), u.name, err, out)
	}
	return out
}

// write writes a file owned by the user.
func (u *ownerUser) write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
}

// writeNotesAsMember writes the notes as a writer that is not root: in the
// owner's group, running the notes writer of this test binary (copied
// where it can reach it).
func writeNotesAsMember(t *testing.T, u *ownerUser, bare, head string) {
	writer, _, _ := addUser(t, "-G", u.name)
	bin := filepath.Join(u.top, "notes.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("runuser", "-u", writer, "--", "env", "GITBOOT_TEST_NOTES_REPO="+bare, "GITBOOT_TEST_NOTES_COMMIT="+head,
		bin, "-test.run=^TestHelperNotesWriter$", "-test.count=1")
	cmd.Dir = u.top
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the notes writer as %s: %v\n%s", writer, err, out)
	}
}

// checkRepoOwners checks that after the notes were written every path in
// bare is still the owner's (its group only, for a writer in it), loose
// objects are 0444, and, shared with the group, object directories
// g+rwxs.
func checkRepoOwners(t *testing.T, u *ownerUser, bare, shared string, member bool) {
	uid, gid, name := u.uid, u.gid, u.name
	var rootOwned []string
	err := filepath.WalkDir(bare, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := st.Sys().(*syscall.Stat_t)
		if (int(sys.Uid) != uid && !member) || int(sys.Gid) != gid {
			rootOwned = append(rootOwned, fmt.Sprintf("%s (%d:%d)", p, sys.Uid, sys.Gid))
		}
		if !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(p))) == "objects" && len(d.Name()) == 38 && st.Mode().Perm() != 0o444 {
			t.Errorf("loose object %s: mode %v, want 0444 as git makes it", p, st.Mode())
		}
		if shared == "group" && d.IsDir() && strings.Contains(p, "objects") && (st.Mode()&fs.ModeSetgid == 0 || st.Mode()&0o070 != 0o070) {
			t.Errorf("%s: mode %v, want g+rwxs as git gives it under core.sharedRepository=group", p, st.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rootOwned) > 0 {
		t.Errorf("%d paths in the repository are not owned by %s (%d:%d; the group only for a writer in it), e.g. %s", len(rootOwned), name, uid, gid, strings.Join(rootOwned[:min(5, len(rootOwned))], ", "))
	}
}

// addUser adds a user with a unique name (removed at cleanup); extra
// useradd arguments (e.g. -G GROUP) come first.
func addUser(t *testing.T, extra ...string) (name string, uid, gid int) {
	t.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name = "gbt" + hex.EncodeToString(suffix)
	args := append(append([]string{}, extra...), "--no-create-home", "--shell", "/bin/sh", name)
	if out, err := exec.Command("useradd", args...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return name, uid, gid
}
