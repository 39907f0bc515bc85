package artifact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// Stage-one modules: the kernel modules a two-stage image's stage-one
// initramfs carries, read from the image artifact (lib/modules/<version>
// or, merged /usr, usr/lib/modules/<version>): a listed set
// (stage_one_modules) or every network driver, each with the modules it
// depends on (modules.dep). The stage-one init loads those whose
// modules.alias patterns match a device the node has.

// maxModuleIndex bounds modules.dep, modules.alias and modules.builtin read
// from an image.
const maxModuleIndex = 16 << 20

// defaultNetDriver says whether a module path (relative to the modules
// directory) is a network driver the default stage one carries.
func defaultNetDriver(p string) bool {
	for _, s := range []string{"/drivers/net/ethernet/", "/drivers/net/virtio_net.", "/drivers/net/vmxnet3/",
		"/drivers/net/hyperv/", "/drivers/net/xen-netfront.", "/drivers/virtio/", "/drivers/net/net_failover.", "/net/core/failover."} {
		if strings.Contains("/"+p, s) {
			return true
		}
	}
	return false
}

// moduleName is the name of the module at path p: its base name without
// .ko[.xz|.zst|.gz], '-' read as '_' (as modprobe compares names).
func moduleName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// modIndex is an image's module index for one kernel version.
type modIndex struct {
	dir     string              // "lib/modules/6.1.0-13-amd64" or "usr/lib/..."
	deps    map[string][]string // module path -> dependency paths
	order   []string            // module paths in modules.dep order
	alias   []byte              // modules.alias as it is
	builtin map[string]bool     // module names built into the kernel
}

// openInitrd opens a stored initrd artifact for reading its cpio stream,
// whatever its compression (gzip, zstd or none; see openArtifact).
func openInitrd(p string) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	r, done, err := openArtifact(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, closeFunc(func() error { done(); return f.Close() })}, nil
}

type closeFunc func() error

func (c closeFunc) Close() error { return c() }

// eachEntry calls fn for every entry of the initrd artifact at p; fn may
// read the entry's content from r.
func eachEntry(p string, fn func(h *cpio.Header, name string, r io.Reader) error) error {
	rc, err := openInitrd(p)
	if err != nil {
		return err
	}
	defer rc.Close()
	cr := cpio.NewReader(rc)
	for {
		h, err := cr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := cleanName(h.Name)
		if err != nil || name == "" {
			continue
		}
		if err := fn(h, name, cr); err != nil {
			return err
		}
	}
}

// readModIndex reads the module index of kernel version kver from the image
// artifact at p.
func readModIndex(p, kver string) (*modIndex, error) {
	idx := &modIndex{deps: map[string][]string{}, builtin: map[string]bool{}}
	var dep, builtin []byte
	err := eachEntry(p, func(h *cpio.Header, name string, r io.Reader) error {
		dir, file := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if dir != "lib/modules/"+kver && dir != "usr/lib/modules/"+kver {
			return nil
		}
		var into *[]byte
		switch file {
		case "modules.dep":
			into = &dep
		case "modules.alias":
			into = &idx.alias
		case "modules.builtin":
			into = &builtin
		default:
			return nil
		}
		if h.Size > maxModuleIndex {
			return fmt.Errorf("%s: %d bytes, more than %d MiB", name, h.Size, maxModuleIndex>>20)
		}
		data, err := io.ReadAll(io.LimitReader(r, h.Size))
		if err != nil {
			return err
		}
		*into, idx.dir = data, dir
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the image's module index: %w", err)
	}
	if dep == nil {
		return nil, fmt.Errorf("the image has no lib/modules/%s/modules.dep (run depmod in the image)", kver)
	}
	for _, line := range strings.Split(string(dep), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		mod = strings.TrimSpace(mod)
		idx.deps[mod] = strings.Fields(rest)
		idx.order = append(idx.order, mod)
	}
	for _, line := range strings.Split(string(builtin), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			idx.builtin[moduleName(line)] = true
		}
	}
	return idx, nil
}

// selectModules returns the module paths stage one carries, in
// modules.dep order: the listed ones (none listed: every default network
// driver) and what they depend on. A listed module that is neither in
// modules.dep nor built in is an error naming it.
func (idx *modIndex) selectModules(listed []string) ([]string, error) {
	byName := make(map[string]string, len(idx.order))
	for _, m := range idx.order {
		byName[moduleName(m)] = m
	}
	want := map[string]bool{}
	var add func(m string)
	add = func(m string) {
		if want[m] {
			return
		}
		want[m] = true
		for _, d := range idx.deps[m] {
			add(d)
		}
	}
	if len(listed) == 0 {
		for _, m := range idx.order {
			if defaultNetDriver(m) {
				add(m)
			}
		}
	}
	var missing []string
	for _, name := range listed {
		n := strings.ReplaceAll(name, "-", "_")
		if m, ok := byName[n]; ok {
			add(m)
		} else if !idx.builtin[n] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("stage_one_modules: %s not in the image's %s/modules.dep (nor built into its kernel)", strings.Join(missing, ", "), idx.dir)
	}
	out := make([]string, 0, len(want))
	for _, m := range idx.order {
		if want[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

// filteredIndex returns modules.dep and modules.alias restricted to mods.
func (idx *modIndex) filteredIndex(mods []string) (dep, alias []byte) {
	var db bytes.Buffer
	names := map[string]bool{}
	for _, m := range mods {
		fmt.Fprintf(&db, "%s:", m)
		for _, d := range idx.deps[m] {
			fmt.Fprintf(&db, " %s", d)
		}
		db.WriteByte('\n')
		names[moduleName(m)] = true
	}
	var ab bytes.Buffer
	for _, line := range strings.Split(string(idx.alias), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" && names[strings.ReplaceAll(f[2], "-", "_")] {
			ab.WriteString(line)
			ab.WriteByte('\n')
		}
	}
	return db.Bytes(), ab.Bytes()
}

// readModules returns the content of the module files mods (paths relative
// to idx.dir) from the image artifact at p.
func (idx *modIndex) readModules(p string, mods []string) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, m := range mods {
		want[idx.dir+"/"+m] = true
	}
	out := make(map[string][]byte, len(mods))
	err := eachEntry(p, func(h *cpio.Header, name string, r io.Reader) error {
		if !want[name] || uint32(h.Mode)&typeMask != typeReg || h.Size == 0 {
			return nil
		}
		if h.Size > MaxOverlayFile {
			return fmt.Errorf("%s: %d bytes", name, h.Size)
		}
		data, err := io.ReadAll(io.LimitReader(r, h.Size))
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(name, idx.dir+"/")] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading modules from the image: %w", err)
	}
	var lost []string
	for _, m := range mods {
		if _, ok := out[m]; !ok {
			lost = append(lost, m)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return nil, errors.New("modules.dep names modules the image does not have (hard-linked or empty?): " + strings.Join(lost, ", "))
	}
	return out, nil
}
