package tftp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var cleanNameCases = []struct {
	name, in, want string
	err            error
}{
	{"plain", "undionly.kpxe", "undionly.kpxe", nil},
	{"subdirectory", "arm64/snponly.efi", "arm64/snponly.efi", nil},
	{"backslashes", `arm64\snponly.efi`, "arm64/snponly.efi", nil},
	{"dot segments", "./arm64/./snponly.efi", "arm64/snponly.efi", nil},
	{"double slash", "arm64//snponly.efi", "arm64/snponly.efi", nil},
	{"trailing slash", "undionly.kpxe/", "undionly.kpxe", nil},
	{"absolute inside", "/srv/tftp/undionly.kpxe", "undionly.kpxe", nil},
	{"absolute inside, dirty", "/srv//tftp/./arm64/snponly.efi", "arm64/snponly.efi", nil},
	{"percent is literal", "%2e%2e/passwd", "%2e%2e/passwd", nil},
	{"unicode", "böot.efi", "böot.efi", nil},
	{"dot dot", "../etc/passwd", "", errEscape},
	{"dot dot deep", "../../../../etc/passwd", "", errEscape},
	{"dot dot inside", "arm64/../undionly.kpxe", "", errEscape},
	{"dot dot at end", "arm64/..", "", errEscape},
	{"backslash dot dot", `..\..\etc\passwd`, "", errEscape},
	{"mixed separators", `arm64\../..\x`, "", errEscape},
	{"absolute outside", "/etc/passwd", "", errAbsolute},
	{"absolute prefix sibling", "/srv/tftp2/x", "", errAbsolute},
	{"absolute dot dot", "/srv/tftp/../tftp/x", "", errEscape},
	{"backslash absolute", `\etc\passwd`, "", errAbsolute},
	{"the root", "/srv/tftp", "", errIsDir},
	{"the root, slash", "/srv/tftp/", "", errIsDir},
	{"dot", ".", "", errIsDir},
	{"empty", "", "", errBadName},
	{"newline", "a\nb", "", errBadName},
	{"tab", "a\tb", "", errBadName},
	{"escape char", "\x1b[2J", "", errBadName},
	{"DEL", "a\x7f", "", errBadName},
	{"too long", strings.Repeat("a", maxNameLen+1), "", errNameTooLong},
	{"longest", strings.Repeat("a", maxNameLen), strings.Repeat("a", maxNameLen), nil},
}

func TestCleanName(t *testing.T) {
	for _, c := range cleanNameCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := cleanName("/srv/tftp", c.in)
			if !errors.Is(err, c.err) || got != c.want {
				t.Fatalf("cleanName(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
			}
		})
	}
}

// FuzzRequestPath feeds arbitrary request names to the jail over a real
// root full of symlinks that leave it. Whatever is accepted must be a clean
// relative path, and whatever is opened must be one of the boot binaries
// the configuration named, never anything else the root holds.
func FuzzRequestPath(f *testing.F) {
	for _, c := range cleanNameCases {
		f.Add(c.in)
	}
	for _, s := range []string{"escape-abs", "escape-rel", "sub/escape-up", "escape-dir/secret", "passwd-link",
		"etc-link/passwd", "proc-self-root/etc/passwd", "inside-link", "sub/inside-up", "dir-link/dir/deep.bin",
		"ipxe.efi", "/ipxe.efi", "fifo", "shadow", "null-link", "sub/loop", "root-link-abs/small.txt", "dangling", "..", "/..", "\\"} {
		f.Add(s)
	}
	r := makeRoot(f)
	tr := newTree(snapshot(r.dir), quietLogger())
	bootPaths := map[string]bool{}
	for _, p := range tr.boot {
		bootPaths[p] = true
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := cleanName(tr.dir, name)
		if err == nil {
			if rel == "" || strings.HasPrefix(rel, "/") || !filepath.IsLocal(rel) {
				t.Fatalf("cleanName(%q) accepted %q", name, rel)
			}
			for _, part := range strings.Split(rel, "/") {
				if part == ".." || part == "." || part == "" {
					t.Fatalf("cleanName(%q) = %q has segment %q", name, rel, part)
				}
			}
		}
		file, _, err := tr.open(name)
		if err != nil {
			return
		}
		defer file.Close()
		real, lerr := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(file.Fd())))
		if lerr != nil {
			t.Fatal(lerr)
		}
		if !bootPaths[real] {
			t.Fatalf("open(%q) opened %s, not a boot binary", name, real)
		}
		fi, err := file.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("open(%q) opened a non-regular file: %v", name, err)
		}
		head, _ := io.ReadAll(io.LimitReader(file, int64(len(secret))))
		if bytes.Equal(head, []byte(secret)) {
			t.Fatalf("open(%q) reached the secret", name)
		}
	})
}
