package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// needRoot skips a test that sets owners when not run as root, except in
// CI (CI=true), where it fails: there the tests run as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test sets file owners and must run as root in CI")
	}
	t.Skip("setting file owners needs root")
}

func owner(t *testing.T, p string) (int, int) {
	t.Helper()
	st := lstat(t, p).Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// TestApplyOwnerAndMode: a secret 0400 1234:1234 is installed with that
// mode and owner; the same content with another mode, then another
// owner, is applied each time (a new inode, never the old one changed in
// place); setuid and setgid bits stay.
func TestApplyOwnerAndMode(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	key := filepath.Join(root, "etc/munge/munge.key")
	apply := func(f tf) applyStats {
		t.Helper()
		st, err := applyArchive(t, root, overlayOf(t, dir("etc", 0o755), f), "")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	apply(withOwner(file("etc/munge/munge.key", "secret", 0o400), 1234, 1234))
	if fi := lstat(t, key); fi.Mode() != 0o400 {
		t.Errorf("mode %v, want 0400", fi.Mode())
	}
	if u, g := owner(t, key); u != 1234 || g != 1234 {
		t.Errorf("owner %d:%d, want 1234:1234", u, g)
	}
	first := lstat(t, key)

	if st := apply(withOwner(file("etc/munge/munge.key", "secret", 0o600), 1234, 1234)); st.Written != 1 {
		t.Errorf("mode change: %+v, want 1 written", st)
	}
	if fi := lstat(t, key); fi.Mode() != 0o600 {
		t.Errorf("mode %v after the change, want 0600", fi.Mode())
	}
	if os.SameFile(first, lstat(t, key)) {
		t.Error("the mode was changed in place, not by a new file renamed into place")
	}

	if st := apply(withOwner(file("etc/munge/munge.key", "secret", 0o600), 4321, 99)); st.Written != 1 {
		t.Errorf("owner change: %+v, want 1 written", st)
	}
	if u, g := owner(t, key); u != 4321 || g != 99 {
		t.Errorf("owner %d:%d after the change, want 4321:99", u, g)
	}
	apply(withOwner(file("etc/munge/munge.key", "secret", 0o6750), 4321, 99))
	if fi := lstat(t, key); fi.Mode() != os.ModeSetuid|os.ModeSetgid|0o750 {
		t.Errorf("mode %v, want setuid, setgid, 0750 (set after the owner, which clears them)", fi.Mode())
	}
	if st := apply(withOwner(file("etc/munge/munge.key", "secret", 0o6750), 4321, 99)); st.Written != 0 || st.Unchanged != 1 {
		t.Errorf("the same again: %+v, want unchanged", st)
	}
}

// TestApplyDirectoryModes: directories the overlay declares get its mode
// and owner, also ones the image has; when no overlay declares one any
// more, the image's own mode and owner come back.
func TestApplyDirectoryModes(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "root"), 0o700)
	os.Mkdir(filepath.Join(root, "srv"), 0o755)
	os.Chown(filepath.Join(root, "srv"), 7, 8)
	v1 := overlayOf(t,
		withOwner(dir("root/.ssh", 0o700), 0, 0),
		file("root/.ssh/authorized_keys", "ssh-ed25519 AAAA\n", 0o600),
		withOwner(dir("srv", 0o2775), 1234, 1235),
	)
	if _, err := applyArchive(t, root, v1, ""); err != nil {
		t.Fatal(err)
	}
	if fi := lstat(t, filepath.Join(root, "root/.ssh")); fi.Mode() != os.ModeDir|0o700 {
		t.Errorf("/root/.ssh %v, want drwx------", fi.Mode())
	}
	if fi := lstat(t, filepath.Join(root, "root")); fi.Mode() != os.ModeDir|0o700 {
		t.Errorf("/root %v: a directory the overlay does not declare changed", fi.Mode())
	}
	if fi := lstat(t, filepath.Join(root, "srv")); fi.Mode() != os.ModeDir|os.ModeSetgid|0o775 {
		t.Errorf("/srv %v, want the declared setgid 0775", fi.Mode())
	}
	if u, g := owner(t, filepath.Join(root, "srv")); u != 1234 || g != 1235 {
		t.Errorf("/srv owner %d:%d, want 1234:1235", u, g)
	}
	// The overlay no longer declares /srv: it is the image's again.
	if _, err := applyArchive(t, root, overlayOf(t, file("root/.ssh/authorized_keys", "k\n", 0o600)), ""); err != nil {
		t.Fatal(err)
	}
	if fi := lstat(t, filepath.Join(root, "srv")); fi.Mode() != os.ModeDir|0o755 {
		t.Errorf("/srv %v after the overlay dropped it, want the image's drwxr-xr-x", fi.Mode())
	}
	if u, g := owner(t, filepath.Join(root, "srv")); u != 7 || g != 8 {
		t.Errorf("/srv owner %d:%d after the overlay dropped it, want the image's 7:8", u, g)
	}
	if m := newApplier(root, quietLog()).readManifest(); len(m.DirAttrs) != 0 {
		t.Errorf("manifest still records %v", m.DirAttrs)
	}
}
