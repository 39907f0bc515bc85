package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// imageFile writes an image's file with a mode, an owner (as root) and an
// old mtime.
func imageFile(t *testing.T, root, name, data string, mode os.FileMode, uid, gid int) os.FileInfo {
	t.Helper()
	p := filepath.Join(root, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	if os.Geteuid() == 0 {
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Unix(1600000000, 0)
	os.Chtimes(p, old, old)
	return lstat(t, p)
}

// TestApplyRestoresImageFiles: overlay A replaces the image's etc/hosts
// and adds etc/new; overlay B ships neither: etc/hosts is the image's
// again (its content, mode, owner, mtime: the same inode), etc/new, which
// the image never had, is deleted. A later overlay replacing it again
// keeps and restores it again.
func TestApplyRestoresImageFiles(t *testing.T) {
	root := t.TempDir()
	hosts := filepath.Join(root, "etc/hosts")
	image := imageFile(t, root, "etc/hosts", "image\n", 0o640, 1234, 1235)
	os.Symlink("hosts", filepath.Join(root, "etc/hosts.link"))
	a := overlayOf(t, file("etc/hosts", "overlay\n", 0o644), file("etc/new", "new\n", 0o644),
		file("etc/hosts.link", "now a file\n", 0o644))
	b := overlayOf(t, file("etc/other", "x\n", 0o644))
	for round := range 2 {
		st, err := applyArchive(t, root, a, `"a"`)
		if err != nil {
			t.Fatal(err)
		}
		if st.Written != 3 {
			t.Errorf("round %d, overlay A: %+v, want 3 written", round, st)
		}
		if got := content(t, hosts); got != "overlay\n" {
			t.Fatalf("etc/hosts %q under overlay A", got)
		}
		m := newApplier(root, quietLog()).readManifest()
		if !slices.Equal(m.Originals, []string{"etc/hosts", "etc/hosts.link"}) {
			t.Errorf("manifest originals %q", m.Originals)
		}
		st, err = applyArchive(t, root, b, `"b"`)
		if err != nil {
			t.Fatal(err)
		}
		if st.Restored != 2 || st.Removed != 1 {
			t.Errorf("round %d, overlay B: %+v, want 2 restored, 1 removed", round, st)
		}
		fi := lstat(t, hosts)
		if got := content(t, hosts); got != "image\n" || fi.Mode() != 0o640 || !fi.ModTime().Equal(image.ModTime()) {
			t.Errorf("round %d: etc/hosts %q %v %v, want the image's", round, got, fi.Mode(), fi.ModTime())
		}
		if !os.SameFile(image, fi) {
			t.Errorf("round %d: etc/hosts is not the image's own inode", round)
		}
		if os.Geteuid() == 0 {
			if u, g := owner(t, hosts); u != 1234 || g != 1235 {
				t.Errorf("round %d: etc/hosts owner %d:%d, want the image's 1234:1235", round, u, g)
			}
		}
		if l, err := os.Readlink(filepath.Join(root, "etc/hosts.link")); err != nil || l != "hosts" {
			t.Errorf("round %d: etc/hosts.link %q %v, want the image's link", round, l, err)
		}
		if exists(filepath.Join(root, "etc/new")) {
			t.Errorf("round %d: etc/new, which the image never had, was not deleted", round)
		}
		if exists(filepath.Join(root, origDir, "etc")) {
			t.Errorf("round %d: the kept copies' directory was not cleaned up", round)
		}
		if m := newApplier(root, quietLog()).readManifest(); len(m.Originals) != 0 {
			t.Errorf("manifest originals %q after the restore", m.Originals)
		}
	}
}

// TestApplyFirstRunAfterInitrdOverlay: without secure_runtime the kernel
// unpacked the runtime overlay over the image before the agent ran. At
// the agent's first apply, a file holding the overlay's own content may
// be the overlay's copy: it is recorded as unknown and deleted when the
// overlay drops it; a file that differs is the image's and comes back.
// In secure mode (no runtime initrd) the same file is the image's own and
// comes back too.
func TestApplyFirstRunAfterInitrdOverlay(t *testing.T) {
	ov := overlayOf(t, file("etc/hosts", "overlay\n", 0o644), file("etc/motd", "overlay motd\n", 0o644))
	for _, initrd := range []bool{true, false} {
		root := t.TempDir()
		// What the node has when the agent first runs: etc/hosts as the
		// kernel unpacked it from the overlay, etc/motd the image's.
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		// (with the time of the unpacking: kernels before 6.0 kept no
		// mtimes, so only the content tells).
		os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("overlay\n"), 0o644)
		imageFile(t, root, "etc/motd", "image motd\n", 0o644, 0, 0)

		ents, err := readOverlay(bytes.NewReader(ov))
		if err != nil {
			t.Fatal(err)
		}
		a := newApplier(root, quietLog())
		a.bootInitrd = initrd
		if st, err := a.apply(ents, `"1"`); err != nil || st.Written != 2 {
			t.Fatalf("initrd=%v: first apply %+v %v, want motd and hosts (its mtime) written", initrd, st, err)
		}
		m := a.readManifest()
		wantUnknown, wantOrig := []string{"etc/hosts"}, []string{"etc/motd"}
		if !initrd {
			wantUnknown, wantOrig = nil, []string{"etc/hosts", "etc/motd"}
		}
		if !slices.Equal(m.Unknown, wantUnknown) || !slices.Equal(m.Originals, wantOrig) {
			t.Errorf("initrd=%v: manifest unknown %q originals %q, want %q %q", initrd, m.Unknown, m.Originals, wantUnknown, wantOrig)
		}
		// A second apply (the manifest exists) keeps the records.
		if _, err := a.apply(ents, `"1"`); err != nil {
			t.Fatal(err)
		}
		if m2 := a.readManifest(); !slices.Equal(m2.Unknown, m.Unknown) || !slices.Equal(m2.Originals, m.Originals) {
			t.Errorf("initrd=%v: records changed on the second apply: %q %q", initrd, m2.Unknown, m2.Originals)
		}
		if _, err := a.apply(nil, `"2"`); err != nil {
			t.Fatal(err)
		}
		if got := content(t, filepath.Join(root, "etc/motd")); got != "image motd\n" {
			t.Errorf("initrd=%v: etc/motd %q, want the image's back", initrd, got)
		}
		if initrd && exists(filepath.Join(root, "etc/hosts")) {
			t.Error("initrd: etc/hosts of unknown origin was not deleted")
		}
		if !initrd && content(t, filepath.Join(root, "etc/hosts")) != "overlay\n" {
			t.Error("secure: etc/hosts, the image's own (equal to the overlay's), was not kept")
		}
	}
}

// TestApplyKeepsOriginalsAcrossFailure: an apply that fails part way
// still tracks the kept copies, so the next one restores them.
func TestApplyKeepsOriginalsAcrossFailure(t *testing.T) {
	root := t.TempDir()
	imageFile(t, root, "etc/hosts", "image\n", 0o644, 0, 0)
	if _, err := applyArchive(t, root, overlayOf(t, file("etc/hosts", "overlay\n", 0o644)), `"a"`); err != nil {
		t.Fatal(err)
	}
	// The next overlay fails at zzz (its label cannot be set).
	policy(t, root, "/.*\tsystem_u:object_r:etc_t:s0\n")
	a := newApplier(root, quietLog())
	a.labels = &labeler{dir: root, log: quietLog(), set: func(p, _ string) error {
		if strings.Contains(p, "zzz") {
			return errors.New("no label for you")
		}
		return nil
	}}
	ents, err := readOverlay(bytes.NewReader(overlayOf(t, file("aaa", "a", 0o644), file("zzz", "z", 0o644))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.apply(ents, `"b"`); err == nil || !strings.Contains(err.Error(), "no label for you") {
		t.Fatalf("apply: %v, want the label failure", err)
	}
	if got := content(t, filepath.Join(root, "etc/hosts")); got != "overlay\n" {
		t.Errorf("etc/hosts %q: a failed apply removed or restored files", got)
	}
	m := a.readManifest()
	if !slices.Contains(m.Originals, "etc/hosts") || !slices.Contains(m.Files, "etc/hosts") || m.ETag != "" {
		t.Errorf("after a failed apply the manifest lost etc/hosts or kept the ETag: %+v", m)
	}
	a.labels = nil
	if _, err := a.apply(nil, `"c"`); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(root, "etc/hosts")); got != "image\n" {
		t.Errorf("etc/hosts %q, want the image's back", got)
	}
}

// TestCopyNode: the copy kept when the state directory is on another
// file system (no hard link) has the file's content, mode, owner and
// mtime; a symlink stays a symlink.
func TestCopyNode(t *testing.T) {
	root := t.TempDir()
	src := imageFile(t, root, "etc/f", "data", 0o4750, 1234, 1235)
	os.Symlink("f", filepath.Join(root, "etc/l"))
	r, err := openSafeRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := &pass{applier: newApplier(root, quietLog()), root: r}
	if err := p.copyNode("etc/f", "etc/f.copy"); err != nil {
		t.Fatal(err)
	}
	if err := p.copyNode("etc/l", "etc/l.copy"); err != nil {
		t.Fatal(err)
	}
	fi := lstat(t, filepath.Join(root, "etc/f.copy"))
	if content(t, filepath.Join(root, "etc/f.copy")) != "data" || fi.Mode() != src.Mode() || !fi.ModTime().Equal(src.ModTime()) {
		t.Errorf("copy %v %v, want %v %v", fi.Mode(), fi.ModTime(), src.Mode(), src.ModTime())
	}
	if os.Geteuid() == 0 {
		if u, g := owner(t, filepath.Join(root, "etc/f.copy")); u != 1234 || g != 1235 {
			t.Errorf("copy owner %d:%d", u, g)
		}
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/l.copy")); err != nil || l != "f" {
		t.Errorf("symlink copy %q %v", l, err)
	}
	if err := p.copyNode("etc", "etc.copy"); err == nil {
		t.Error("copied a directory")
	}
}

// TestOnceFromBootFile: --once --from FILE applies the runtime overlay
// iPXE put into the initramfs as a file: without secure mode the image's
// own files are kept exactly (the kernel did not unpack the overlay), no
// server is asked, and FILE is removed. --from needs --once.
func TestOnceFromBootFile(t *testing.T) {
	root := t.TempDir()
	imageFile(t, root, "etc/hosts", "overlay\n", 0o644, 0, 0) // the image's, equal to the overlay's
	boot := filepath.Join(t.TempDir(), "runtime.img.gz")
	data := overlayOf(t, file("etc/hosts", "overlay\n", 0o644), file("etc/new", "n", 0o644))
	os.WriteFile(boot, data, 0o600)
	os.WriteFile(boot+".sig", []byte(signFor("52:54:00:99:00:01", data)), 0o644)
	args := append([]string{"--server", "http://127.0.0.1:1", "--mac", "52:54:00:99:00:01", "--root", root}, trustFlags(t)...)
	var stderr bytes.Buffer
	if code := run(append(args, "--once", "--from", boot), &stderr, func() string { return "" }); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if exists(boot) || exists(boot+".sig") {
		t.Error("the applied file or its signature was not removed")
	}
	m := newApplier(root, quietLog()).readManifest()
	if !slices.Equal(m.Originals, []string{"etc/hosts"}) || len(m.Unknown) != 0 || m.ETag != "" {
		t.Errorf("manifest %+v: want etc/hosts kept as the image's, no ETag", m)
	}
	stderr.Reset()
	if code := run(append(args, "--from", boot), &stderr, func() string { return "" }); code != 2 || !strings.Contains(stderr.String(), "--once") {
		t.Errorf("--from without --once: exit %d: %s", code, stderr.String())
	}
}
