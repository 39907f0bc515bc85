package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestParseStageOne(t *testing.T) {
	h := strings.Repeat("ab", 32)
	cfg, err := parseStageOne("console=ttyS0 gitboot.server=http://10.0.0.1:9873 gitboot.mac=52:54:00:00:00:01 gitboot.ip=10.0.0.11/24 gitboot.gateway=10.0.0.254 gitboot.root_size=90% gitboot.stage2=image:" + h + ",extra0:" + h + ",system:" + h + ",runtime:" + h)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.server != "http://10.0.0.1:9873" || cfg.addr.String() != "10.0.0.11/24" || cfg.gateway.String() != "10.0.0.254" || cfg.rootSize != "90%" || len(cfg.items) != 4 {
		t.Fatalf("parsed %+v", cfg)
	}
	for i, want := range []string{"/image/52:54:00:00:00:01/" + h, "/extra/52:54:00:00:00:01/0/" + h, "/system/52:54:00:00:00:01/" + h, "/runtime-initrd/52:54:00:00:00:01/" + h} {
		if u, _ := cfg.url(cfg.items[i]); u != "http://10.0.0.1:9873"+want {
			t.Errorf("item %d: url %s, want %s", i, u, want)
		}
	}
	if _, inner := cfg.url(cfg.items[3]); inner != runtimeInitrdFile {
		t.Errorf("runtime: digest covers %q", inner)
	}
	for _, bad := range []string{
		"gitboot.server=http://s gitboot.mac=52:54:00:00:00:01 gitboot.ip=10.0.0.11/24 gitboot.stage2=image:xyz",
		"gitboot.server=http://s gitboot.mac=52:54:00:00:00:01 gitboot.ip=10.0.0.11 gitboot.stage2=image:" + h,
		"gitboot.server=http://s gitboot.mac=zz gitboot.ip=10.0.0.11/24 gitboot.stage2=image:" + h,
		"gitboot.server=http://s gitboot.mac=52:54:00:00:00:01 gitboot.ip=10.0.0.11/24 gitboot.stage2=../etc:" + h,
		"gitboot.mac=52:54:00:00:00:01 gitboot.ip=10.0.0.11/24 gitboot.stage2=image:" + h,
	} {
		if _, err := parseStageOne(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// gnuCPIO archives dir with GNU cpio (newc), gzip-compressed: the format
// and the hard-link convention (data on the last name) of real archives.
func gnuCPIO(t *testing.T, dir string) []byte {
	t.Helper()
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("SKIP: needs GNU cpio (apt-get install cpio)")
	}
	cmd := exec.Command("sh", "-c", "find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	return gz(t, out)
}

// sourceTree makes a tree with what images have: directories, a setuid
// file, hard links, symlinks (one to a directory), a FIFO, an empty file.
func sourceTree(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(d, "usr/bin"), 0o755))
	must(os.MkdirAll(filepath.Join(d, "etc/ssh"), 0o700))
	must(os.WriteFile(filepath.Join(d, "usr/bin/tool"), bytes.Repeat([]byte("tool "), 50000), 0o755))
	must(os.Chmod(filepath.Join(d, "usr/bin/tool"), os.ModeSetuid|0o755))
	must(os.Link(filepath.Join(d, "usr/bin/tool"), filepath.Join(d, "usr/bin/tool2")))
	must(os.WriteFile(filepath.Join(d, "etc/ssh/key"), []byte("secret\n"), 0o600))
	must(os.WriteFile(filepath.Join(d, "etc/empty"), nil, 0o644))
	must(os.Symlink("usr/bin", filepath.Join(d, "bin")))
	must(syscall.Mkfifo(filepath.Join(d, "etc/fifo"), 0o640))
	return d
}

// serveBlob serves data like httpboot serves an artifact (ServeContent:
// Range, ETag); fault, when set, may handle a request instead.
func serveBlob(t *testing.T, data []byte, fault func(w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *atomic.Int32) {
	var ranged atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		if fault != nil && fault(w, r) {
			return
		}
		w.Header().Set("Etag", `"sha256:x"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &ranged
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func fetchTo(t *testing.T, url, want string) (string, int, error) {
	t.Helper()
	dst := t.TempDir()
	root, err := openDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	rr := 0
	_, err = fetchInto(context.Background(), stageOneClient(), url, want, "", newExtractor(root), quietLog())
	return dst, rr, err
}

func TestStageOneStreamUnpacksLikeTheKernel(t *testing.T) {
	src := sourceTree(t)
	arc := gnuCPIO(t, src)
	srv, _ := serveBlob(t, arc, nil)
	dst, _, err := fetchTo(t, srv.URL+"/image", hexSum(arc))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(unpacked(t, src), unpacked(t, dst)); d != "" {
		t.Fatalf("unpacked tree differs from the source:\n%s", d)
	}
	a, _ := os.Stat(filepath.Join(dst, "usr/bin/tool"))
	b, _ := os.Stat(filepath.Join(dst, "usr/bin/tool2"))
	if !os.SameFile(a, b) || a.Mode()&os.ModeSetuid == 0 {
		t.Errorf("hard link lost or setuid bit dropped: same=%v mode=%v", os.SameFile(a, b), a.Mode())
	}
	if fi, err := os.Lstat(filepath.Join(dst, "etc/fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v %v", fi, err)
	}
}

func TestStageOneResumesADroppedConnection(t *testing.T) {
	src := sourceTree(t)
	// Incompressible content, so the compressed stream is large enough to cut.
	junk := make([]byte, 2<<20)
	for i := range junk {
		junk[i] = byte(i*7919 + i>>8*31)
	}
	os.WriteFile(filepath.Join(src, "usr/bin/big"), junk, 0o644)
	arc := gnuCPIO(t, src)
	var cuts atomic.Int32
	srv, ranged := serveBlob(t, arc, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Range") != "" || cuts.Add(1) > 2 {
			return false
		}
		// The first requests: send a third of it, then cut the connection.
		w.Header().Set("Content-Length", fmt.Sprint(len(arc)))
		w.Header().Set("Etag", `"sha256:x"`)
		w.WriteHeader(http.StatusOK)
		w.Write(arc[:len(arc)/3])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	})
	dst, _, err := fetchTo(t, srv.URL+"/image", hexSum(arc))
	if err != nil {
		t.Fatal(err)
	}
	if ranged.Load() == 0 {
		t.Fatal("no Range request: the download was not resumed")
	}
	if d := diffSnapshots(unpacked(t, src), unpacked(t, dst)); d != "" {
		t.Fatalf("resumed download unpacked differently:\n%s", d)
	}
}

func TestStageOneRefusesACorruptedByte(t *testing.T) {
	src := sourceTree(t)
	arc := gnuCPIO(t, src)
	bad := bytes.Clone(arc)
	bad[len(bad)-20] ^= 0x01 // inside the gzip trailer's CRC/size or the last block
	srv, _ := serveBlob(t, bad, nil)
	_, _, err := fetchTo(t, srv.URL+"/image", hexSum(arc))
	if err == nil {
		t.Fatal("a corrupted download was accepted")
	}
	// Whichever check catches it first (gzip's CRC or the sha256), the
	// download fails; stage one then discards the tree.
	t.Logf("refused: %v", err)

	// A byte flipped in a stored (uncompressed) archive reaches the
	// unpacker intact: only the digest can refuse it.
	raw := rawCPIO(t, file("etc/motd", "hello\n", 0o644))
	flipped := bytes.Clone(raw)
	flipped[bytes.Index(flipped, []byte("hello"))] = 'j'
	srv2, _ := serveBlob(t, flipped, nil)
	_, _, err = fetchTo(t, srv2.URL+"/system", hexSum(raw))
	if !errors.Is(err, errDigest) {
		t.Fatalf("flipped byte: err %v, want %v", err, errDigest)
	}
}

func TestStageOneRefusesEscapingNames(t *testing.T) {
	outside := t.TempDir()
	for _, name := range []string{"../escape", "a/../../escape"} {
		arc := rawCPIO(t, file(name, "x", 0o644))
		srv, _ := serveBlob(t, arc, nil)
		dst, _, err := fetchTo(t, srv.URL+"/image", hexSum(arc))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape")); err == nil {
			t.Errorf("%s: wrote outside the root", name)
		}
	}
	// A symlink in the archive pointing out cannot carry a later file out.
	arc := rawCPIO(t, symlink("out", outside), file("out/pwned", "x", 0o644))
	srv, _ := serveBlob(t, arc, nil)
	if _, _, err := fetchTo(t, srv.URL+"/image", hexSum(arc)); err == nil {
		t.Error("a file written through a symlink leaving the root was accepted")
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Error("wrote through a symlink out of the root")
	}
}

func TestStageOneKernelReplaceRules(t *testing.T) {
	// Two archives in a row (with NUL padding between, as initrds are
	// concatenated): the second replaces a file by a symlink, keeps a
	// directory's content, and its runtime file is hashed on its own.
	first := rawCPIO(t, dir("etc", 0o755), file("etc/a", "one", 0o644), file("etc/keep", "k", 0o644))
	second := rawCPIO(t, dir("etc", 0o750), symlink("etc/a", "keep"), file(runtimeInitrdFile, "overlay", 0o600))
	stream := append(append(bytes.Clone(first), make([]byte, 512)...), second...)
	srv, _ := serveBlob(t, stream, nil)
	dst := t.TempDir()
	root, _ := openDir(dst)
	defer root.Close()
	if _, err := fetchInto(context.Background(), stageOneClient(), srv.URL+"/runtime", hexSum([]byte("overlay")), runtimeInitrdFile, newExtractor(root), quietLog()); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "etc/a")); l != "keep" {
		t.Errorf("etc/a: link %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "etc/keep")); string(b) != "k" {
		t.Error("etc/keep lost when etc came again")
	}
	if fi, _ := os.Stat(filepath.Join(dst, "etc")); fi.Mode().Perm() != 0o750 {
		t.Errorf("etc mode %v", fi.Mode().Perm())
	}
}

// unpacked is snapshot without what an unpack cannot keep: inode numbers,
// and times other than a regular file's mtime in whole seconds.
func unpacked(t *testing.T, dir string) map[string]fileState {
	m := snapshot(t, dir)
	for p, st := range m {
		st.ino = 0
		if st.mode.IsRegular() {
			st.mtime = st.mtime / 1e9
		} else {
			st.mtime = 0
		}
		m[p] = st
	}
	return m
}
