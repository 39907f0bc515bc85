package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// mergedUsr makes root look like a merged-/usr image: /sbin, /bin, /lib
// relative links into usr, /lib64 an absolute one (read against the root).
func mergedUsr(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"usr/sbin", "usr/bin", "usr/lib", "usr/lib64", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"sbin": "usr/sbin", "bin": "usr/bin", "lib": "usr/lib", "lib64": "/usr/lib64"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestApplyThroughImageLinks: on a merged-/usr image, overlay paths below
// /sbin, /lib and /lib64 land in usr/ through the image's links, which
// stay links; the manifest records where the files are, so the next
// overlay removes them (and the directories the agent created for them)
// and never the links.
func TestApplyThroughImageLinks(t *testing.T) {
	root := t.TempDir()
	mergedUsr(t, root)
	v1 := overlayOf(t,
		dir("sbin", 0o755),
		file("sbin/foo", "#!/bin/sh\n", 0o755),
		file("lib64/ld.so", "elf", 0o755),
		file("lib/systemd/system/foo.service", "[Unit]\n", 0o644), // lib/systemd is missing
		file("etc/foo.conf", "x\n", 0o644),
	)
	st, err := applyArchive(t, root, v1, `"v1"`)
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"sbin": "usr/sbin", "bin": "usr/bin", "lib": "usr/lib", "lib64": "/usr/lib64"} {
		if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
			t.Errorf("/%s is %q (%v), want the image's link to %s", link, got, err, target)
		}
	}
	for p, want := range map[string]string{"usr/sbin/foo": "#!/bin/sh\n", "usr/lib64/ld.so": "elf", "usr/lib/systemd/system/foo.service": "[Unit]\n"} {
		if got := content(t, filepath.Join(root, p)); got != want {
			t.Errorf("/%s = %q, want %q", p, got, want)
		}
	}
	m := newApplier(root, quietLog()).readManifest()
	wantFiles := []string{"etc/foo.conf", "usr/lib/systemd/system/foo.service", "usr/lib64/ld.so", "usr/sbin/foo"}
	if !slices.Equal(m.Files, wantFiles) {
		t.Errorf("manifest files %q, want %q", m.Files, wantFiles)
	}
	if !slices.Equal(m.Dirs, []string{"usr/lib/systemd", "usr/lib/systemd/system"}) {
		t.Errorf("manifest dirs %q", m.Dirs)
	}
	if m.Via["usr/sbin/foo"] != "sbin/foo" {
		t.Errorf("manifest via %v", m.Via)
	}
	// post_apply lists name files as the overlay does.
	slices.Sort(st.Changed)
	if want := []string{"etc/foo.conf", "lib/systemd/system/foo.service", "lib64/ld.so", "sbin/foo"}; !slices.Equal(st.Changed, want) {
		t.Errorf("changed %q, want %q", st.Changed, want)
	}

	// Again: nothing changes.
	before := snapshot(t, root)
	if st, err := applyArchive(t, root, v1, `"v1"`); err != nil || st.Written != 0 {
		t.Fatalf("same overlay again: %+v %v", st, err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("the same overlay changed:\n%s", d)
	}

	// Empty overlay: the files and the agent's directories go, the links
	// and the image's directories stay.
	st, err = applyArchive(t, root, overlayOf(t), `"v2"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"usr/sbin/foo", "usr/lib64/ld.so", "usr/lib/systemd", "etc/foo.conf"} {
		if exists(filepath.Join(root, gone)) {
			t.Errorf("/%s was not removed", gone)
		}
	}
	for _, kept := range []string{"sbin", "lib", "lib64", "usr/sbin", "usr/lib"} {
		if !exists(filepath.Join(root, kept)) {
			t.Errorf("/%s was removed", kept)
		}
	}
	if fi := lstat(t, filepath.Join(root, "sbin")); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("/sbin is no longer a link")
	}
	if !slices.Contains(st.Changed, "sbin/foo") {
		t.Errorf("removal changed %q, want sbin/foo by the overlay's name", st.Changed)
	}
}

// TestApplyThroughChainedLinks: a link to a link to a directory, and a
// link inside the path of another link's target, are followed.
func TestApplyThroughChainedLinks(t *testing.T) {
	root := t.TempDir()
	mergedUsr(t, root)
	os.Symlink("lib", filepath.Join(root, "lib32"))          // -> lib -> usr/lib
	os.Symlink("../lib/./", filepath.Join(root, "usr/libx")) // via /lib again
	if _, err := applyArchive(t, root, overlayOf(t, file("lib32/a", "a", 0o644), file("usr/libx/b", "b", 0o644)), ""); err != nil {
		t.Fatal(err)
	}
	if content(t, filepath.Join(root, "usr/lib/a")) != "a" || content(t, filepath.Join(root, "usr/lib/b")) != "b" {
		t.Error("files not written through the chained links")
	}
}

// TestApplyRefusesBadLinks: links that leave the root, point to nothing
// or to a file, loop, or that an earlier overlay installed are never
// written through, and two paths that land at one file are refused:
// nothing of such an overlay is written, inside or outside the root.
func TestApplyRefusesBadLinks(t *testing.T) {
	good := file("aaa/first", "written first if it were not refused", 0o644)
	cases := []struct {
		name  string
		setup func(t *testing.T, root, outside string)
		files []tf
	}{
		{"relative link leaving the root", func(t *testing.T, root, outside string) {
			os.Symlink("../"+filepath.Base(outside), filepath.Join(root, "out"))
		}, []tf{good, file("out/escape", "x", 0o644)}},
		{"dot-dot after the root", func(t *testing.T, root, outside string) {
			os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
			os.Symlink("usr/../../x", filepath.Join(root, "sbin"))
		}, []tf{good, file("sbin/escape", "x", 0o644)}},
		{"absolute link to a host path", func(t *testing.T, root, outside string) {
			os.Symlink(outside, filepath.Join(root, "abs")) // read against the root: not there
		}, []tf{good, file("abs/escape", "x", 0o644)}},
		{"dangling", func(t *testing.T, root, outside string) { os.Symlink("usr/nowhere", filepath.Join(root, "sbin")) },
			[]tf{good, file("sbin/x", "x", 0o644)}},
		{"link to a file", func(t *testing.T, root, outside string) {
			os.WriteFile(filepath.Join(root, "f"), nil, 0o644)
			os.Symlink("f", filepath.Join(root, "l"))
		}, []tf{good, file("l/x", "x", 0o644)}},
		{"loop", func(t *testing.T, root, outside string) {
			os.Symlink("b", filepath.Join(root, "a"))
			os.Symlink("a", filepath.Join(root, "b"))
		}, []tf{good, file("a/x", "x", 0o644)}},
		{"two names, one file", func(t *testing.T, root, outside string) { mergedUsr(t, root) },
			[]tf{good, file("sbin/x", "1", 0o644), file("usr/sbin/x", "2", 0o644)}},
		{"into the agent's state", func(t *testing.T, root, outside string) {
			os.MkdirAll(filepath.Join(root, stateDir), 0o700)
			os.Symlink(stateDir, filepath.Join(root, "st"))
		}, []tf{good, file("st/manifest.json", "{}", 0o644)}},
		{"below the overlay's own file through a link", func(t *testing.T, root, outside string) { mergedUsr(t, root) },
			[]tf{good, file("usr/sbin", "x", 0o644), file("sbin/x", "x", 0o644)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top := t.TempDir()
			root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
			os.Mkdir(root, 0o755)
			os.Mkdir(outside, 0o755)
			c.setup(t, root, outside)
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

// TestApplyNotThroughOverlayLinks: a symlink an earlier overlay
// installed is not the image's: writing through it is refused even when
// it points to a directory inside the root.
func TestApplyNotThroughOverlayLinks(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755)
	if _, err := applyArchive(t, root, overlayOf(t, symlink("l", "etc/ssh")), ""); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	_, err := applyArchive(t, root, overlayOf(t, symlink("l", "etc/ssh"), file("l/x", "x", 0o644)), "")
	var r *refusal
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	_, err = applyArchive(t, root, overlayOf(t, file("l/x", "x", 0o644)), "")
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("the root changed:\n%s", d)
	}
}

// TestApplyLinkBudget: links whose targets hold many links are bounded by
// the links followed in all, not by depth (no exponential walk).
func TestApplyLinkBudget(t *testing.T) {
	root := t.TempDir()
	// l0 -> l1/l1, l1 -> l2/l2, ... l29 -> d: 2^30 walks if counted by depth.
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	for i := range 30 {
		target := "l" + strconv.Itoa(i+1) + "/l" + strconv.Itoa(i+1)
		if i == 29 {
			target = "d"
		}
		os.Symlink(target, filepath.Join(root, "l"+strconv.Itoa(i)))
	}
	os.Symlink(".", filepath.Join(root, "d/l30"))
	done := make(chan error, 1)
	go func() {
		_, err := applyArchive(t, root, overlayOf(t, file("l0/x", "x", 0o644)), "")
		done <- err
	}()
	select {
	case err := <-done:
		var r *refusal
		if !errors.As(err, &r) {
			t.Fatalf("err = %v, want a refusal (more than 40 links)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("resolving the links did not finish in 10 s")
	}
}

// TestApplyStateBehindLink: when the image links a directory above the
// agent's state (var/lib -> ../persist/lib), the overlay cannot reach the
// state through the link's target either.
func TestApplyStateBehindLink(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "persist/lib/gitboot-agent"), 0o700)
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	os.Symlink("../persist/lib", filepath.Join(root, "var/lib"))
	before := snapshot(t, root)
	_, err := applyArchive(t, root, overlayOf(t, file("persist/lib/gitboot-agent/manifest.json", `{"files":["etc/passwd"]}`, 0o644)), "")
	var r *refusal
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("the root changed:\n%s", d)
	}
	// overlays.json, at its own name, is installed through the link.
	if _, err := applyArchive(t, root, overlayOf(t, file(overlaysName, "[]", 0o644)), ""); err != nil {
		t.Fatal(err)
	}
	if content(t, filepath.Join(root, "persist/lib/gitboot-agent/overlays.json")) != "[]" {
		t.Error("overlays.json not installed through var/lib")
	}
}
