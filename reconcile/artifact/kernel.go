package artifact

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// kernelChoice is the kernel found in an image.
type kernelChoice struct {
	path    string // resolved path inside the image
	name    string // its base name, the SENT name
	version string // "6.1.0-13-amd64"; empty when unknown
	ino     *inode
}

// findKernel picks the kernel: the newest file matching glob (a pattern
// inside the image), or with no glob the newest boot/vmlinuz-*, by version
// order. Symlinks are followed inside the image only.
func findKernel(t *tree, glob string) (kernelChoice, error) {
	var cands []string
	if glob != "" {
		glob = strings.TrimLeft(glob, "/")
		if _, err := path.Match(glob, ""); err != nil {
			return kernelChoice{}, fmt.Errorf("kernel pattern %q: %w", glob, err)
		}
		_ = t.walk(func(p string, ino *inode) error {
			if ok, _ := path.Match(glob, p); ok {
				cands = append(cands, p)
			}
			return nil
		})
	} else {
		if boot, ok := t.lookup("boot"); ok && boot.children != nil {
			for name := range boot.children {
				if strings.HasPrefix(name, "vmlinuz-") {
					cands = append(cands, "boot/"+name)
				}
			}
		}
		if len(cands) == 0 {
			// Images built from containers (Rocky/Fedora 9+) keep the kernel
			// only as lib/modules/<version>/vmlinuz.
			for _, dir := range []string{"lib/modules", "usr/lib/modules"} {
				real, ino, ok := t.resolve(dir)
				if !ok || ino.mode&typeMask != typeDir {
					continue
				}
				n, _ := t.lookup(real)
				for v := range n.children {
					cands = append(cands, real+"/"+v+"/vmlinuz")
				}
			}
		}
	}
	var best kernelChoice
	for _, c := range cands {
		p, ino, ok := t.resolve(c)
		if !ok || ino.mode&typeMask != typeReg || ino.size == 0 {
			continue
		}
		k := kernelChoice{path: p, name: path.Base(p), ino: ino}
		k.version = kernelVersion(t, path.Base(c), path.Base(p))
		if k.name == "vmlinuz" && strings.Contains(c, "lib/modules/") {
			k.version = path.Base(path.Dir(c)) // lib/modules/<version>/vmlinuz
			k.name = "vmlinuz-" + k.version
		}
		if best.ino == nil || versionLess(best.version+"\x00"+best.name, k.version+"\x00"+k.name) {
			best = k
		}
	}
	if best.ino == nil {
		if glob != "" {
			return kernelChoice{}, fmt.Errorf("no kernel: nothing matches %q", glob)
		}
		return kernelChoice{}, errors.New("no kernel: no /boot/vmlinuz-* or /lib/modules/*/vmlinuz in the image (or set kernel = \"glob\")")
	}
	return best, nil
}

// kernelVersion takes the version from a vmlinuz-VERSION name, else from
// the only directory under lib/modules.
func kernelVersion(t *tree, names ...string) string {
	for _, n := range names {
		if v, ok := strings.CutPrefix(n, "vmlinuz-"); ok && v != "" {
			return v
		}
	}
	for _, dir := range []string{"lib/modules", "usr/lib/modules"} {
		real, ino, ok := t.resolve(dir)
		if !ok || ino.mode&typeMask != typeDir {
			continue
		}
		if n, _ := t.lookup(real); n != nil && len(n.children) == 1 {
			for v := range n.children {
				return v
			}
		}
	}
	return ""
}

// hasModules reports whether the image has lib/modules/<version>.
func hasModules(t *tree, version string) bool {
	if version == "" {
		return false
	}
	for _, dir := range []string{"lib/modules/", "usr/lib/modules/"} {
		if _, ino, ok := t.resolve(dir + version); ok && ino.mode&typeMask == typeDir {
			return true
		}
	}
	return false
}

// versionLess compares like `sort -V`: runs of digits numerically, other
// runs byte-wise.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		ra, restA := versionRun(a)
		rb, restB := versionRun(b)
		if c := compareRun(ra, rb); c != 0 {
			return c < 0
		}
		a, b = restA, restB
	}
	return a == "" && b != ""
}

func versionRun(s string) (string, string) {
	digit := s[0] >= '0' && s[0] <= '9'
	i := 1
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') == digit {
		i++
	}
	return s[:i], s[i:]
}

func compareRun(a, b string) int {
	da, db := a[0] >= '0' && a[0] <= '9', b[0] >= '0' && b[0] <= '9'
	if da && db {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}
