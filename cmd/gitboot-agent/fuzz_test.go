package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApply feeds arbitrary cpio bytes to the reader and, when it accepts
// them, applies them under a root that holds symlinks to a directory
// outside it (never followed) and a merged-/usr link /sbin -> usr/sbin
// (written through): it never panics, and nothing outside the root ever
// changes.
// Seeds: the overlays of the tests and the real runtime overlays the server
// built for examples/lab (testdata/*.img.gz).
func FuzzApply(f *testing.F) {
	seeds := [][]tf{
		{dir("etc", 0o755), file("etc/motd", "hello\n", 0o644), symlink("etc/l", "motd"), file("usr/bin/x", "#!", 0o755)},
		{file("../escape", "x", 0o644)},
		{symlink("out", "../outside"), file("out/x", "x", 0o644)},
		{file("out/x", "x", 0o644)},
		{dir("out", 0o755)},
		{dir("sbin", 0o755), file("sbin/x", "x", 0o755), symlink("sbin/y", "../../outside")},
		{special("dev/null", 0o020000)},
		{file("/abs", "x", 0o644)},
	}
	for _, s := range seeds {
		f.Add(rawCPIO(f, s...))
	}
	gzs, _ := filepath.Glob("testdata/*.img.gz")
	for _, p := range gzs {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			f.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ents, err := readCPIO(bytes.NewReader(raw))
		if err != nil {
			return
		}
		ents, err = checkEntries(ents)
		if err != nil {
			return
		}
		top := t.TempDir()
		root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
		os.MkdirAll(root, 0o755)
		os.MkdirAll(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644)
		os.Symlink("../outside", filepath.Join(root, "out"))
		os.Symlink(outside, filepath.Join(root, "abs"))
		os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755) // merged /usr: written through
		os.Symlink("usr/sbin", filepath.Join(root, "sbin"))
		before := snapshot(t, outside)
		a := newApplier(root, quietLog())
		a.apply(ents, "")
		a.apply(nil, "") // and remove it all again
		if d := diffSnapshots(before, snapshot(t, outside)); d != "" {
			t.Fatalf("outside the root changed:\n%s", d)
		}
		if entries, _ := os.ReadDir(top); len(entries) != 2 {
			t.Fatalf("the root's parent has %d entries", len(entries))
		}
	})
}
