package artifact

import (
	"bytes"
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
