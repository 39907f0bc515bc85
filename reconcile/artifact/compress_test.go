package artifact

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/initrdtest"
)

// magicOf returns the first bytes of an artifact file.
func magicOf(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 6)
	if _, err := f.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImageExcludeAndCompression: by default the image's /boot is left
// out of its artifact (the kernel travels on its own); an image whose
// kernel config (boot/config-VERSION, read before the exclusion) has
// CONFIG_RD_ZSTD=y gets zstd for the image and its overlays, one without
// it gzip; compression and exclude on the image block win.
func TestImageExcludeAndCompression(t *testing.T) {
	zstdCfg := "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n"
	noZstd := "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n"
	cases := []struct {
		name        string
		config      string // boot/config-6.1.0-13-amd64; "" none
		compression string
		exclude     []string
		want        []byte // the artifacts' magic
		gone, kept  []string
	}{
		{"rd-zstd", zstdCfg, "", nil, initrdtest.MagicZstd, []string{"boot/vmlinuz-6.1.0-13-amd64", "boot/config-6.1.0-13-amd64", "boot/vmlinuz"}, []string{"boot", "etc/motd", "usr/share/doc/x"}},
		{"no-rd-zstd", noZstd, "", nil, initrdtest.MagicGzip, []string{"boot/vmlinuz-6.1.0-13-amd64"}, []string{"etc/motd"}},
		{"no-config", "", "", nil, initrdtest.MagicGzip, nil, []string{"etc/motd"}},
		{"gzip-asked", zstdCfg, hclspec.CompressionGzip, nil, initrdtest.MagicGzip, nil, []string{"etc/motd"}},
		{"none-asked", zstdCfg, hclspec.CompressionNone, nil, []byte("070701"), nil, []string{"etc/motd"}},
		{"zstd-asked", noZstd, hclspec.CompressionZstd, nil, initrdtest.MagicZstd, nil, []string{"etc/motd"}},
		{"own-exclude", zstdCfg, "", []string{"usr/share/doc", "etc/*.bak"}, initrdtest.MagicZstd, []string{"usr/share/doc/x", "etc/old.bak"}, []string{"boot/vmlinuz-6.1.0-13-amd64", "boot/config-6.1.0-13-amd64", "etc/motd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := t.TempDir()
			write(t, filepath.Join(src, "boot/vmlinuz-6.1.0-13-amd64"), "kernel", 0o644)
			if err := os.Symlink("vmlinuz-6.1.0-13-amd64", filepath.Join(src, "boot/vmlinuz")); err != nil {
				t.Fatal(err)
			}
			if c.config != "" {
				write(t, filepath.Join(src, "boot/config-6.1.0-13-amd64"), c.config, 0o644)
			}
			write(t, filepath.Join(src, "etc/motd"), "hello", 0o644)
			write(t, filepath.Join(src, "etc/old.bak"), "old", 0o644)
			write(t, filepath.Join(src, "usr/share/doc/x"), "doc", 0o644)
			img := &hclspec.Image{Name: "img", Source: src, Compression: c.compression, Exclude: c.exclude}
			tc := overlayCluster(t, []string{"nodedep"}, nil, 1)
			tc.images = []*hclspec.Image{img}
			r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
			a := r.Nodes["n00000"]
			for _, p := range []string{a.Image.Path, a.System.Path, a.Runtime.Path} {
				if got := magicOf(t, p); !bytes.HasPrefix(got, c.want) {
					t.Errorf("%s starts %x, want %x", filepath.Base(p), got, c.want)
				}
			}
			if want := string(c.want); want == string(initrdtest.MagicZstd) {
				// The system overlay: two members (shared, node's), each one frame.
				if ms, err := initrdtest.Members(a.System.Path); err != nil || len(ms) != 2 {
					t.Errorf("system overlay: %d zstd frames (%v), want 2", len(ms), err)
				}
			}
			got := unpack(t, a.Image.Path)
			for _, p := range c.gone {
				if _, err := os.Lstat(filepath.Join(got, p)); err == nil {
					t.Errorf("%s is in the image artifact", p)
				}
			}
			for _, p := range c.kept {
				if _, err := os.Lstat(filepath.Join(got, p)); err != nil {
					t.Errorf("%s is not in the image artifact: %v", p, err)
				}
			}
			if !sameBytes(t, a.Kernel.Path, filepath.Join(src, "boot/vmlinuz-6.1.0-13-amd64")) {
				t.Error("the kernel artifact is not the image's kernel")
			}
			unpack(t, a.System.Path) // cpio reads every member
		})
	}
}

// zstdLiteralTypes walks the blocks of the zstd frames in file and counts
// the literals sections of its compressed blocks by type (0 raw, 1 RLE,
// 2 Huffman-compressed, 3 Huffman with the previous block's table).
func zstdLiteralTypes(t *testing.T, file string) [4]int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var n [4]int
	for len(b) > 0 {
		if len(b) < 6 || !bytes.Equal(b[:4], initrdtest.MagicZstd) {
			t.Fatalf("%s: no zstd frame at %d bytes from the end", file, len(b))
		}
		fhd := b[4]
		single := fhd&0x20 != 0
		p := 5
		if !single {
			p++ // window descriptor
		}
		p += []int{0, 1, 2, 4}[fhd&3]
		fcs := []int{0, 2, 4, 8}[fhd>>6]
		if fcs == 0 && single {
			fcs = 1
		}
		p += fcs
		for last := false; !last; {
			var typ, size int
			if p+3 > len(b) {
				t.Fatalf("%s: truncated block header", file)
			}
			h := int(b[p]) | int(b[p+1])<<8 | int(b[p+2])<<16
			last, typ, size = h&1 != 0, (h>>1)&3, h>>3
			p += 3
			switch typ {
			case 1: // RLE: one byte
				size = 1
			case 2:
				if size == 0 || p+size > len(b) {
					t.Fatalf("%s: bad compressed block of %d bytes", file, size)
				}
				n[b[p]&3]++
			}
			p += size
		}
		if fhd&0x04 != 0 {
			p += 4 // content checksum
		}
		if p > len(b) {
			t.Fatalf("%s: truncated frame", file)
		}
		b = b[p:]
	}
	return n
}

// TestImageZstdRawLiterals: an image artifact packed with zstd stores its
// literals raw, so the kernel decodes no Huffman tables while it unpacks
// the initramfs (the boot's longest step on a large image), and it still
// unpacks to the image's files.
func TestImageZstdRawLiterals(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "boot/vmlinuz-6.1.0-13-amd64"), "kernel", 0o644)
	var text bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&text, "line %d of a file that compresses: %x\n", i, i*i*7919)
	}
	for i := range 8 {
		write(t, filepath.Join(src, fmt.Sprintf("usr/share/t%d", i)), text.String()[i*1000:], 0o644)
	}
	img := &hclspec.Image{Name: "img", Source: src, Compression: hclspec.CompressionZstd}
	tc := overlayCluster(t, []string{"nodedep"}, nil, 1)
	tc.images = []*hclspec.Image{img}
	a := mustBuild(t, newBuilder(t, t.TempDir()), tc.build()).Nodes["n00000"]
	lit := zstdLiteralTypes(t, a.Image.Path)
	if lit[0]+lit[1] == 0 || lit[2]+lit[3] != 0 {
		t.Errorf("image artifact's compressed blocks by literals type (raw, RLE, Huffman, repeat) = %v: want raw or RLE only", lit)
	}
	if st, err := os.Stat(a.Image.Path); err != nil || st.Size() > int64(text.Len()) {
		t.Errorf("image artifact of %d bytes (%v) for 8 files of up to %d: not compressed", st.Size(), err, text.Len())
	}
	got := unpack(t, a.Image.Path)
	if !sameBytes(t, filepath.Join(got, "usr/share/t3"), filepath.Join(src, "usr/share/t3")) {
		t.Error("usr/share/t3 unpacks to other bytes")
	}
}
