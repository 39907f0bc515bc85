package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TestClassicInitrd: the classic reference initrd is one gzip stream
// holding every part's files (a zstd part, a gzip part, a plain one) and,
// right after the image part, the image's /boot, which GNU cpio lists in
// that order.
func TestClassicInitrd(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("needs cpio (apt-get install cpio)")
	}
	dir := t.TempDir()
	tree := func(name string, files ...string) []byte {
		root := filepath.Join(dir, "trees", name)
		for _, f := range files {
			if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, f), []byte(name+":"+f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := bootCpioOf(root, strings.Join(files, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(tree("image", "sbin/init"))
	zw.Close()
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(tree("system", "init"))
	gw.Close()
	parts := []string{write("image.part", zs.Bytes()), write("system.part", gz.Bytes()), write("runtime.part", tree("runtime", "etc/motd"))}
	img := filepath.Join(dir, "image")
	if err := os.MkdirAll(filepath.Join(img, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "boot", "vmlinuz-6.1"), bytes.Repeat([]byte("k"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := classicInitrd(&out, parts, []string{"image", "system", "runtime"}, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte{0x1f, 0x8b}) {
		t.Fatalf("not gzip: % x", out.Bytes()[:4])
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	got := listNewc(t, raw)
	want := []string{"sbin/init", "boot", "boot/vmlinuz-6.1", "init", "etc/motd"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the classic initrd lists %q, want %q (the image, its /boot, then the overlays)", got, want)
	}
}

// bootCpioOf is a newc cpio of the listed files under root.
func bootCpioOf(root, list string) ([]byte, error) {
	cmd := exec.Command("cpio", "--quiet", "-o", "-H", "newc")
	cmd.Dir, cmd.Stdin = root, strings.NewReader(list+"\n")
	return cmd.Output()
}

// listNewc lists the entries of concatenated newc cpio archives as the
// kernel reads them (on past each trailer, skipping zero padding), which
// GNU cpio does not.
func listNewc(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	for len(b) > 0 {
		if b[0] == 0 {
			b = b[1:]
			continue
		}
		if len(b) < 110 || string(b[:6]) != "070701" {
			t.Fatalf("not a newc header: %q", b[:min(len(b), 16)])
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		size, nameLen := field(6), field(11)
		name := string(b[110 : 110+nameLen-1])
		off := (110 + nameLen + 3) &^ 3
		off = (off + size + 3) &^ 3
		if name != "TRAILER!!!" {
			names = append(names, name)
		}
		b = b[min(off, len(b)):]
	}
	return names
}
