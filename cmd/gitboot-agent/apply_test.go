package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cavaliergopher/cpio"
)

func lstat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func content(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// TestApplyInstallUpdateRemove: a first overlay installs files, symlinks
// and directories with the archive's modes, owners and mtimes; the same
// overlay again changes nothing (same inodes); a new one updates what
// changed and removes what it no longer has, but never a file the agent
// did not install or a directory that was there before it.
func TestApplyInstallUpdateRemove(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/mine"), []byte("not the agent's\n"), 0o644)
	v1 := overlayOf(t,
		dir("etc", 0o755),
		file("etc/motd", "hello\n", 0o644),
		withOwner(file("etc/secret", "s3cret\n", 0o600), 0, 0),
		symlink("etc/motd.link", "motd"),
		dir("opt", 0o750),
		dir("opt/new", 0o1777),
		file("opt/new/setuid", "x", 0o4755),
		file("usr/local/bin/tool", "#!/bin/sh\n", 0o755), // parents not in the archive
	)
	st, err := applyArchive(t, root, v1, `"v1"`)
	if err != nil {
		t.Fatal(err)
	}
	checkFirstInstall(t, root, st)

	// The same overlay again: nothing written.
	before := snapshot(t, root)
	st, err = applyArchive(t, root, v1, `"v1"`)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 0 || st.Unchanged != 5 {
		t.Errorf("same overlay again: %+v", st)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("the same overlay changed:\n%s", d)
	}

	checkUpdate(t, root)

	// Empty overlay: everything the agent installed goes, its
	// directories too, etc/mine and etc (there before) stay.
	if _, err := applyArchive(t, root, overlayOf(t), `"v3"`); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"etc/motd", "usr/local/bin/tool", "usr"} {
		if exists(filepath.Join(root, gone)) {
			t.Errorf("%s was not removed by an empty overlay", gone)
		}
	}
	if !exists(filepath.Join(root, "etc/mine")) {
		t.Error("etc/mine was removed")
	}
}

// checkFirstInstall checks the first overlay's files under root: content,
// modes (setuid, sticky), owners (as root), mtimes and the manifest; st
// is what the apply reported.
func checkFirstInstall(t *testing.T, root string, st applyStats) {
	if st.Written != 5 || st.Removed != 0 {
		t.Errorf("first apply: %+v, want 5 written", st)
	}
	if got := content(t, filepath.Join(root, "etc/motd")); got != "hello\n" {
		t.Errorf("motd %q", got)
	}
	if fi := lstat(t, filepath.Join(root, "etc/motd")); fi.Mode() != 0o644 || fi.ModTime().Unix() != 1700000000 {
		t.Errorf("motd mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	if fi := lstat(t, filepath.Join(root, "etc/secret")); fi.Mode() != 0o600 {
		t.Errorf("secret mode %v", fi.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/motd.link")); l != "motd" {
		t.Errorf("symlink target %q", l)
	}
	if fi := lstat(t, filepath.Join(root, "opt")); fi.Mode() != os.ModeDir|0o750 {
		t.Errorf("created directory mode %v, want drwxr-x---", fi.Mode())
	}
	if fi := lstat(t, filepath.Join(root, "opt/new")); fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("created directory mode %v, want sticky 0777", fi.Mode())
	}
	if fi := lstat(t, filepath.Join(root, "opt/new/setuid")); fi.Mode() != os.ModeSetuid|0o755 {
		t.Errorf("setuid file mode %v", fi.Mode())
	}
	if os.Geteuid() == 0 {
		if st := lstat(t, filepath.Join(root, "etc/secret")).Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("owner %d:%d", st.Uid, st.Gid)
		}
	}
	m := newApplier(root, quietLog()).readManifest()
	if m.ETag != `"v1"` || len(m.Files) != 5 {
		t.Errorf("manifest %+v", m)
	}
}

// checkUpdate applies v2 over the first overlay under root: motd changes,
// what v2 no longer has goes (its directories too), an unchanged file is
// not rewritten, and what was not the agent's stays.
func checkUpdate(t *testing.T, root string) {
	// v2: motd changes, secret, the link and opt go; etc stays (the
	// overlay still has it) and etc/mine was never the agent's.
	toolBefore := lstat(t, filepath.Join(root, "usr/local/bin/tool"))
	v2 := overlayOf(t,
		dir("etc", 0o755),
		withTime(file("etc/motd", "hello again\n", 0o644), 1700000100),
		file("usr/local/bin/tool", "#!/bin/sh\n", 0o755),
	)
	st, err := applyArchive(t, root, v2, `"v2"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(root, "etc/motd")); got != "hello again\n" {
		t.Errorf("motd after update %q", got)
	}
	for _, gone := range []string{"etc/secret", "etc/motd.link", "opt/new/setuid", "opt/new", "opt"} {
		if exists(filepath.Join(root, gone)) {
			t.Errorf("%s was not removed", gone)
		}
	}
	for _, kept := range []string{"etc/mine", "etc", "usr/local/bin"} {
		if !exists(filepath.Join(root, kept)) {
			t.Errorf("%s was removed", kept)
		}
	}
	if !os.SameFile(toolBefore, lstat(t, filepath.Join(root, "usr/local/bin/tool"))) {
		t.Error("an unchanged file was rewritten")
	}
	if st.Written != 1 || st.Unchanged != 1 || st.Removed != 5 { // secret, link, setuid, opt/new, opt
		t.Errorf("update: %+v, want 1 written, 1 unchanged, 5 removed", st)
	}
}

// TestApplyRemoveOnlyOwn: a file the agent installed and that someone
// replaced by a directory, or whose directory became a symlink, is not
// removed through it.
func TestApplyRemoveOnlyOwn(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "f"), []byte("outside"), 0o644)
	if _, err := applyArchive(t, root, overlayOf(t, dir("d", 0o755), file("d/f", "x", 0o644), file("g", "y", 0o644)), ""); err != nil {
		t.Fatal(err)
	}
	// d becomes a symlink to a directory outside; g becomes a directory.
	os.RemoveAll(filepath.Join(root, "d"))
	os.Symlink(outside, filepath.Join(root, "d"))
	os.Remove(filepath.Join(root, "g"))
	os.Mkdir(filepath.Join(root, "g"), 0o755)
	if _, err := applyArchive(t, root, overlayOf(t), ""); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(outside, "f")) {
		t.Error("removed a file through a symlink")
	}
	if !exists(filepath.Join(root, "g")) {
		t.Error("removed a directory that replaced an installed file")
	}
}

// TestApplyHostile: every hostile overlay is refused whole: nothing under
// the root or outside it changes (not even the files of the overlay that
// come before the bad entry).
func TestApplyHostile(t *testing.T) {
	good := file("aaa/first", "written first if it were not refused", 0o644)
	cases := []struct {
		name  string
		setup func(root, outside string)
		files []tf
	}{
		{"dot-dot", nil, []tf{good, file("../escape", "x", 0o644)}},
		{"dot-dot inside", nil, []tf{good, file("a/../../escape", "x", 0o644)}},
		{"absolute", nil, []tf{good, file("/etc/escape", "x", 0o644)}},
		{"through its own symlink", nil, []tf{good, symlink("l", "/tmp"), file("l/escape", "x", 0o644)}},
		{"through its own relative symlink", nil, []tf{good, symlink("l", "../.."), file("l/escape", "x", 0o644)}},
		{"below its own file", nil, []tf{good, file("f", "x", 0o644), file("f/g", "x", 0o644)}},
		// An absolute link is read against the root: the host's outside
		// directory is not there (links_test.go has the image's links).
		{"through an existing symlink", func(root, outside string) { os.Symlink(outside, filepath.Join(root, "lnk")) },
			[]tf{good, file("lnk/escape", "x", 0o644)}},
		{"through an existing symlink, deeper", func(root, outside string) {
			os.MkdirAll(filepath.Join(root, "a"), 0o755)
			os.Symlink(outside, filepath.Join(root, "a/b"))
		}, []tf{good, dir("a", 0o755), dir("a/b", 0o755), file("a/b/c/escape", "x", 0o644)}},
		{"directory over an existing symlink", func(root, outside string) { os.Symlink(outside, filepath.Join(root, "lnk")) },
			[]tf{good, dir("lnk", 0o755)}},
		{"file over a directory", func(root, outside string) { os.Mkdir(filepath.Join(root, "d"), 0o755) },
			[]tf{good, file("d", "x", 0o644)}},
		{"below a file on the node", func(root, outside string) { os.WriteFile(filepath.Join(root, "f"), nil, 0o644) },
			[]tf{good, file("f/g/h", "x", 0o644)}},
		{"char device", nil, []tf{good, special("dev/null", 0o020000)}},
		{"block device", nil, []tf{good, special("dev/sda", 0o060000)}},
		{"fifo", nil, []tf{good, special("run/fifo", 0o010000)}},
		{"socket", nil, []tf{good, special("run/sock", 0o140000)}},
		{"duplicate", nil, []tf{good, file("x", "1", 0o644), file("./x", "2", 0o644)}},
		{"agent state", nil, []tf{good, file("var/lib/gitboot-agent/manifest.json", `{"files":["etc/passwd"]}`, 0o644)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(outside, "keep"), []byte("outside"), 0o644)
			if c.setup != nil {
				c.setup(root, outside)
			}
			beforeRoot, beforeOut := snapshot(t, root), snapshot(t, outside)
			_, err := applyArchive(t, root, overlayOf(t, c.files...), `"bad"`)
			var r *refusal
			if !errors.As(err, &r) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if d := diffSnapshots(beforeRoot, snapshot(t, root)); d != "" {
				t.Errorf("the root changed:\n%s", d)
			}
			if d := diffSnapshots(beforeOut, snapshot(t, outside)); d != "" {
				t.Errorf("outside the root changed:\n%s", d)
			}
			t.Log(err)
		})
	}
}

// TestApplyHardLinks: hard links (the data on the group's last entry, as
// the server writes them) become files with the same content.
func TestApplyHardLinks(t *testing.T) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for i, name := range []string{"a", "b"} {
		h := &cpio.Header{Name: name, Mode: cpio.FileMode(typeReg | 0o644), Links: 2, Inode: 7}
		if i == 1 {
			h.Size = 6
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			w.Write([]byte("shared"))
		}
	}
	w.Close()
	ents, err := readCPIO(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 || string(ents[0].data) != "shared" || string(ents[1].data) != "shared" {
		t.Errorf("hard links read as %+v", ents)
	}
}

// TestReadRealOverlay reads a runtime overlay gitboot serve built for
// examples/lab's n1 (testdata/lab-n1-runtime.img.gz) and applies it.
func TestReadRealOverlay(t *testing.T) {
	data, err := os.ReadFile("testdata/lab-n1-runtime.img.gz")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := applyArchive(t, root, data, ""); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(root, "etc/hostname")); got != "n1\n" {
		t.Errorf("etc/hostname %q", got)
	}
	if got := content(t, filepath.Join(root, "etc/motd")); !strings.Contains(got, "Welcome to n1") {
		t.Errorf("etc/motd %q", got)
	}
}
