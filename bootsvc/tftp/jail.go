package tftp

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/gitboot/gitboot/bootsvc"
)

// DefaultIPXEDir is the TFTP root when the server block sets no ipxe_dir
// (where Debian's ipxe package puts its binaries).
const DefaultIPXEDir = "/usr/lib/ipxe"

// maxNameLen bounds a requested file name; longer names are refused.
const maxNameLen = 255

// bootFiles are the boot binaries the DHCP server hands out, relative to the
// root, and (with the server's uefi_boot_file) the only files served. They
// are resolved (symlinks followed, even out of the root, but only to a
// regular file) when a snapshot is loaded: Debian's ipxe.efi is a symlink
// into /boot.
var bootFiles = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi", "arm64/snponly.efi"}

// Reasons a request is refused. Their text is what the client sees.
var (
	errNotFound    = errors.New("file not found")
	errEscape      = errors.New("access violation: path leaves the TFTP root")
	errAbsolute    = errors.New("access violation: absolute path outside the TFTP root")
	errBadName     = errors.New("access violation: bad file name")
	errNotRegular  = errors.New("not a regular file")
	errIsDir       = errors.New("is a directory")
	errNoConfig    = errors.New("no configuration loaded yet")
	errReadOnly    = errors.New("access violation: read-only server, writes are refused")
	errShutdown    = errors.New("server shutting down")
	errBusy        = errors.New("server busy, try again")
	errUnreadable  = errors.New("access violation: cannot open file")
	errNameTooLong = errors.New("file name too long")
	errNotBootFile = errors.New("access violation: not a boot file (only the iPXE binaries are served)")
)

// tree is what one snapshot serves: the root directory and the boot
// binaries resolved when the snapshot was loaded. It is immutable.
type tree struct {
	snap *bootsvc.Snapshot
	dir  string            // absolute, cleaned root directory
	boot map[string]string // cleaned request name -> resolved file path
	// named holds every boot binary the configuration names, resolved or
	// not: one missing at load (ipxe installed later) is resolved when
	// asked for.
	named map[string]bool
	// files holds the boot files' bytes, read once per version.
	files *contents
}

// newTree resolves the snapshot's root and boot binaries. Missing binaries
// are logged, not fatal: a site may not ship every architecture.
func newTree(snap *bootsvc.Snapshot, log *slog.Logger) *tree {
	dir := DefaultIPXEDir
	if snap != nil && snap.Server.IPXEDir != "" {
		dir = snap.Server.IPXEDir
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	t := &tree{snap: snap, dir: filepath.Clean(dir), boot: make(map[string]string, len(bootFiles)+1),
		named: make(map[string]bool, len(bootFiles)+1), files: &contents{m: map[string]*content{}}}
	names := bootFiles
	if snap != nil && snap.Server.UEFIBootFile != "" {
		names = append(append([]string(nil), bootFiles...), snap.Server.UEFIBootFile)
	}
	var missing []string
	for _, name := range names {
		rel, err := cleanName(t.dir, name)
		if err != nil {
			log.Warn("tftp: boot file name refused", "file", name, "err", err)
			continue
		}
		if t.named[rel] {
			continue
		}
		t.named[rel] = true
		p, err := resolveBootFile(t.dir, rel)
		if err != nil {
			missing = append(missing, rel)
			log.Debug("tftp: boot file not available", "file", rel, "err", err)
			continue
		}
		t.boot[rel] = p
	}
	if len(missing) > 0 {
		log.Info("tftp: boot files missing from the root", "root", t.dir, "missing", strings.Join(missing, ","))
	}
	return t
}

// resolved lists the boot binaries as "name=path" of the file each is
// served from, in order ("" when none is available).
func (t *tree) resolved() string {
	parts := make([]string, 0, len(t.boot))
	for rel, p := range t.boot {
		parts = append(parts, rel+"="+p)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// resolveBootFile follows every symlink of root/rel and checks the result is
// a regular file.
func resolveBootFile(root, rel string) (string, error) {
	p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %w", p, errNotRegular)
	}
	return p, nil
}

// cleanName turns a requested name into a slash-separated path relative to
// root, or says why it is refused. Backslashes count as separators; any ".."
// component is refused even when it would stay inside the root; an absolute
// name must lie under root (it is made relative). Nothing is decoded: "%2e"
// is three literal characters.
func cleanName(root, name string) (string, error) {
	if name == "" {
		return "", errBadName
	}
	if len(name) > maxNameLen {
		return "", errNameTooLong
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", errBadName
		}
	}
	name = strings.ReplaceAll(name, `\`, "/")
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errEscape
		}
	}
	if strings.HasPrefix(name, "/") {
		prefix := strings.TrimSuffix(filepath.ToSlash(root), "/") + "/"
		rest, ok := strings.CutPrefix(path.Clean(name)+"/", prefix)
		if !ok {
			return "", errAbsolute
		}
		name = strings.TrimSuffix(rest, "/")
		if name == "" {
			return "", errIsDir
		}
	}
	rel := path.Clean(name)
	if rel == "." {
		return "", errIsDir
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", errEscape
	}
	return rel, nil
}

// open opens the requested file for one transfer. Only the boot binaries
// the configuration names are served (resolved at load, or now if one was
// missing then): any other name, whatever the root holds, is refused. A
// boot binary may be a symlink, followed only to a regular file. The file
// is opened non-blocking so a FIFO swapped in cannot hang the transfer,
// and must still be a regular file. It returns the cleaned name.
func (t *tree) open(name string) (*os.File, string, error) {
	rel, err := cleanName(t.dir, name)
	if err != nil {
		return nil, "", err
	}
	if !t.named[rel] {
		return nil, rel, errNotBootFile
	}
	p, ok := t.boot[rel]
	if !ok {
		if p, err = resolveBootFile(t.dir, rel); err != nil {
			return nil, rel, classify(err)
		}
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, rel, classify(err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, rel, errUnreadable
	case fi.IsDir():
		f.Close()
		return nil, rel, errIsDir
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, rel, errNotRegular
	}
	return f, rel, nil
}

// classify maps an open error to the reason the client is told.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return errNotFound
	case errors.Is(err, syscall.ENAMETOOLONG):
		return errNameTooLong
	case errors.Is(err, errNotRegular):
		return errNotRegular
	default:
		return errUnreadable
	}
}
