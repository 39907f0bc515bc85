package artifact

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// An image source's identity (its input key) is what is shipped, not where
// the bytes sit: a copy at the same path (cp -a: new inodes, new ctimes,
// as a restore, a move of the state or a remount gives) keeps it; a
// changed modification time, mode or hard link does not.
func TestImageIdentityIgnoresInodeAndCtime(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "img")
	makeImageTree(t, src)
	if err := os.Link(filepath.Join(src, "sbin", "init"), filepath.Join(src, "sbin", "init.link")); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(base, "img.tar")
	if out, err := exec.Command("tar", "-cf", tarball, "-C", src, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	key := func(source string) string {
		t.Helper()
		s, err := examineImage(&hclspec.Image{Name: "img", Source: source})
		if err != nil {
			t.Fatal(err)
		}
		return s.input
	}
	dirKey, tarKey := key(src), key(tarball)
	// Copied away and back: every inode and ctime is new.
	for _, p := range []string{src, tarball} {
		if err := os.Rename(p, p+".old"); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", p+".old", p).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v\n%s", err, out)
		}
		if err := os.RemoveAll(p + ".old"); err != nil {
			t.Fatal(err)
		}
	}
	if got := key(src); got != dirKey {
		t.Errorf("a copy of the directory has another identity: %s, was %s", got, dirKey)
	}
	if got := key(tarball); got != tarKey {
		t.Errorf("a copy of the archive has another identity: %s, was %s", got, tarKey)
	}
	// What is shipped changes: the identity does.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "sbin", "init"), later, later); err != nil {
		t.Fatal(err)
	}
	if key(src) == dirKey {
		t.Error("a new modification time kept the directory's identity")
	}
	if err := os.Chmod(tarball, 0o600); err != nil {
		t.Fatal(err)
	}
	if key(tarball) == tarKey {
		t.Error("a new mode kept the archive's identity")
	}
	// A hard link made a copy (same content, same times) changes it too:
	// the image ships one file where it shipped two names of one.
	k := key(src)
	link := filepath.Join(src, "sbin", "init.link")
	data, _ := os.ReadFile(link)
	st, _ := os.Stat(link)
	os.Remove(link)
	os.WriteFile(link, data, st.Mode())
	os.Chtimes(link, st.ModTime(), st.ModTime())
	if key(src) == k {
		t.Error("a hard link turned into a copy kept the directory's identity")
	}
}
