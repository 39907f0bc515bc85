package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

// tf is one archive entry for a test overlay.
type tf struct {
	name  string
	mode  uint32 // type and permission bits
	data  string // content, or a symlink's target
	uid   int
	gid   int
	mtime int64
}

func dir(name string, perm uint32) tf { return tf{name: name, mode: typeDir | perm, mtime: 1700000000} }
func file(name, data string, perm uint32) tf {
	return tf{name: name, mode: typeReg | perm, data: data, mtime: 1700000000}
}
func symlink(name, target string) tf {
	return tf{name: name, mode: typeSymlink | 0o777, data: target, mtime: 1700000000}
}
func special(name string, typ uint32) tf      { return tf{name: name, mode: typ | 0o644, mtime: 1700000000} }
func withTime(f tf, mtime int64) tf           { f.mtime = mtime; return f }
func withOwner(f tf, uid, gid int) tf         { f.uid, f.gid = uid, gid; return f }
func gz(t testing.TB, raw []byte) []byte      { return gzipBytes(t, raw) }
func overlayOf(t testing.TB, fs ...tf) []byte { return gz(t, rawCPIO(t, fs...)) }

// rawCPIO writes entries as cpio newc with the library the server uses.
func rawCPIO(t testing.TB, files ...tf) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for i, f := range files {
		h := &cpio.Header{Name: f.name, Mode: cpio.FileMode(f.mode), Uid: f.uid, Guid: f.gid, Links: 1,
			ModTime: time.Unix(f.mtime, 0), Inode: int64(i + 1)}
		switch f.mode & typeMask {
		case typeReg, typeSymlink:
			h.Size = int64(len(f.data))
		case typeDir:
			h.Links = 2
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(w, f.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// applyArchive reads and applies a gzip overlay under root.
func applyArchive(t testing.TB, root string, archive []byte, etag string) (applyStats, error) {
	t.Helper()
	ents, err := readOverlay(bytes.NewReader(archive))
	if err != nil {
		return applyStats{}, err
	}
	return newApplier(root, quietLog()).apply(ents, etag)
}

// fileState is what a test compares of one path.
type fileState struct {
	mode  fs.FileMode
	data  string
	mtime int64
	ino   uint64
}

// snapshot records every path under dir (not following symlinks).
func snapshot(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fileState{mode: fi.Mode(), mtime: fi.ModTime().UnixNano(), ino: fi.Sys().(*syscall.Stat_t).Ino}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			st.data, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			st.data = string(b)
		case fi.IsDir():
			st.mtime = 0 // a directory's mtime changes with its entries
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]fileState) string {
	var d []string
	for p, x := range a {
		if y, ok := b[p]; !ok {
			d = append(d, "- "+p)
		} else if x != y {
			d = append(d, "~ "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "+ "+p)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}
