package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// stateDir is the agent's own directory under the root; manifestName the
// record of what it installed there.
const (
	stateDir     = "var/lib/gitboot-agent"
	manifestName = stateDir + "/manifest.json"
)

// manifest records what the last applied runtime overlay installed, so the
// next one removes what it no longer has and nothing else.
type manifest struct {
	Version int `json:"version"`
	// ETag is the server's ETag of the overlay last applied in full ("":
	// the last apply failed part way, so the next fetch gets it again).
	ETag string `json:"etag,omitempty"`
	// Files are the regular files and symlinks the overlay installed,
	// plus those the agent failed to remove (retried next time).
	Files []string `json:"files"`
	// Dirs are the directories the agent created (never one that was
	// there before it).
	Dirs []string `json:"dirs,omitempty"`
}

// applyStats counts what an apply did.
type applyStats struct {
	Written, Unchanged, Removed, Created int
	// Changed are the files and symlinks written or removed (not
	// directories), for post_apply commands.
	Changed []string
}

// applier installs runtime overlays under a root directory.
type applier struct {
	dir   string // the root, e.g. "/"
	log   *slog.Logger
	chown bool // owners are set only when running as root
}

func newApplier(dir string, log *slog.Logger) *applier {
	return &applier{dir: dir, log: log, chown: os.Geteuid() == 0}
}

// readManifest returns the manifest under the root; an empty one when
// there is none or it is unreadable (then nothing is removed: the agent
// removes only what it knows it installed).
func (a *applier) readManifest() *manifest {
	m := &manifest{Version: 1}
	data, err := os.ReadFile(path.Join(a.dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m
	}
	if err == nil {
		err = json.Unmarshal(data, m)
	}
	if err != nil {
		a.log.Warn("manifest unreadable; nothing the previous overlay installed will be removed", "file", path.Join(a.dir, manifestName), "err", err)
		return &manifest{Version: 1}
	}
	return m
}

// apply makes the root hold ents (a checked overlay, sorted by name):
// first it checks every entry against what is on disk and refuses the
// overlay (a *refusal, nothing written) when one would write through an
// existing symlink or replace a directory by a file or the reverse; then
// it writes each changed file atomically (a temporary file in the same
// directory, fsync, rename) with the archive's mode, owner and mtime,
// creates missing directories with their modes, and removes what the
// previous overlay installed that ents no longer has. etag is recorded
// once all of it succeeded.
func (a *applier) apply(ents []entry, etag string) (applyStats, error) {
	var st applyStats
	root, err := os.OpenRoot(a.dir)
	if err != nil {
		return st, fmt.Errorf("opening the root: %w", err)
	}
	defer root.Close()
	old := a.readManifest()
	disk := &diskView{root: root, seen: map[string]fs.FileInfo{}}
	if err := disk.check(ents); err != nil {
		return st, err
	}

	next := &manifest{Version: 1}
	tracked := map[string]bool{} // directories the agent created
	for _, d := range old.Dirs {
		tracked[d] = true
	}
	wantDir := map[string]bool{}
	wantFile := map[string]bool{}
	synced := map[string]bool{}
	var applyErr error
	for i := range ents {
		e := &ents[i]
		if e.isDir() {
			wantDir[e.name] = true
		} else {
			wantFile[e.name] = true
		}
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			wantDir[p] = true
		}
	}
	for i := range ents {
		e := &ents[i]
		created, err := disk.mkdirParents(e.name)
		for _, d := range created {
			tracked[d] = true
			st.Created++
		}
		if err != nil {
			applyErr = err
			break
		}
		if e.isDir() {
			made, err := a.dir1(root, disk, e)
			if made {
				tracked[e.name] = true
				st.Created++
			}
			if err != nil {
				applyErr = err
				break
			}
			continue
		}
		changed, err := a.write(root, disk, e)
		if err != nil {
			applyErr = err
			break
		}
		next.Files = append(next.Files, e.name)
		if changed {
			st.Written++
			st.Changed = append(st.Changed, e.name)
			synced[path.Dir(e.name)] = true
		} else {
			st.Unchanged++
		}
	}
	if applyErr != nil {
		// Keep tracking what the previous overlay installed, so a later
		// apply still removes it.
		for _, f := range old.Files {
			if !slices.Contains(next.Files, f) {
				next.Files = append(next.Files, f)
			}
		}
	} else {
		for _, f := range old.Files {
			if wantFile[f] {
				continue
			}
			if err := a.remove(root, f, false); err != nil {
				a.log.Warn("removing a file the previous overlay installed failed; retried next time", "file", f, "err", err)
				next.Files = append(next.Files, f)
				continue
			}
			st.Removed++
			st.Changed = append(st.Changed, f)
			synced[path.Dir(f)] = true
		}
	}
	// Directories the agent created and the overlay no longer has, deepest
	// first; one that is not empty stays (and stays tracked).
	dirs := make([]string, 0, len(tracked))
	for d := range tracked {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(x, y string) int { return len(y) - len(x) })
	for _, d := range dirs {
		if applyErr == nil && !wantDir[d] {
			if err := a.remove(root, d, true); err == nil {
				st.Removed++
				continue
			}
		}
		next.Dirs = append(next.Dirs, d)
	}
	slices.Sort(next.Files)
	slices.Sort(next.Dirs)
	for d := range synced {
		if f, err := root.Open(d); err == nil {
			f.Sync()
			f.Close()
		}
	}
	if applyErr == nil {
		next.ETag = etag
	}
	if err := a.writeManifest(root, next); err != nil && applyErr == nil {
		applyErr = err
	}
	return st, applyErr
}

// diskView is what apply found on disk, looked up once per path with
// Lstat (never following a symlink).
type diskView struct {
	root *os.Root
	seen map[string]fs.FileInfo // nil: does not exist
}

func (d *diskView) lstat(p string) (fs.FileInfo, error) {
	if fi, ok := d.seen[p]; ok {
		return fi, nil
	}
	fi, err := d.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.seen[p] = fi
	return fi, nil
}

// check refuses an overlay that would write through an existing symlink
// (any directory on an entry's path that is a symlink on disk) or swap a
// directory for a file or symlink (or the reverse).
func (d *diskView) check(ents []entry) error {
	for i := range ents {
		e := &ents[i]
		for _, p := range parents(e.name) {
			fi, err := d.lstat(p)
			if err != nil {
				return err
			}
			switch {
			case fi == nil:
			case fi.Mode()&fs.ModeSymlink != 0:
				return &refusal{e.name, "would be written through the symlink /" + p + " on the node"}
			case !fi.IsDir():
				return &refusal{e.name, "needs /" + p + " to be a directory, and it is a file on the node"}
			}
		}
		fi, err := d.lstat(e.name)
		if err != nil || fi == nil {
			if err != nil {
				return err
			}
			continue
		}
		switch {
		case e.isDir() && fi.Mode()&fs.ModeSymlink != 0:
			return &refusal{e.name, "is a directory in the overlay and a symlink on the node (writing below it would follow the symlink)"}
		case e.isDir() && !fi.IsDir():
			return &refusal{e.name, "is a directory in the overlay and a file on the node"}
		case !e.isDir() && fi.IsDir():
			return &refusal{e.name, "is a file or symlink in the overlay and a directory on the node"}
		}
	}
	return nil
}

// parents returns the directories above p, outermost first.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		out = append(out, d)
	}
	slices.Reverse(out)
	return out
}

// mkdirParents creates the missing directories above p (0755, the
// archive did not name them) and returns those it created.
func (d *diskView) mkdirParents(p string) ([]string, error) {
	var created []string
	for _, dir := range parents(p) {
		fi, err := d.lstat(dir)
		if err != nil {
			return created, err
		}
		if fi != nil {
			continue
		}
		if err := d.root.Mkdir(dir, 0o755); err != nil {
			return created, fmt.Errorf("creating /%s: %w", dir, err)
		}
		created = append(created, dir)
		d.seen[dir] = dirInfo{}
	}
	return created, nil
}

// dirInfo stands for a directory the agent just created.
type dirInfo struct{ fs.FileInfo }

func (dirInfo) IsDir() bool       { return true }
func (dirInfo) Mode() fs.FileMode { return fs.ModeDir | 0o755 }

// dir1 creates directory e when it is missing, with its mode and owner;
// an existing directory is left as it is. made reports a creation.
func (a *applier) dir1(root *os.Root, d *diskView, e *entry) (made bool, err error) {
	fi, err := d.lstat(e.name)
	if err != nil || fi != nil {
		return false, err
	}
	if err := root.Mkdir(e.name, 0o700); err != nil {
		return false, fmt.Errorf("creating /%s: %w", e.name, err)
	}
	d.seen[e.name] = dirInfo{}
	if a.chown {
		if err := root.Lchown(e.name, e.uid, e.gid); err != nil {
			return true, fmt.Errorf("creating /%s: %w", e.name, err)
		}
	}
	if err := root.Chmod(e.name, fileMode(e.mode)); err != nil {
		return true, fmt.Errorf("creating /%s: %w", e.name, err)
	}
	return true, nil
}

// write installs a regular file or symlink atomically unless the node has
// it already, with the same content and metadata. changed reports a write.
func (a *applier) write(root *os.Root, d *diskView, e *entry) (changed bool, err error) {
	fi, err := d.lstat(e.name)
	if err != nil {
		return false, err
	}
	if fi != nil && a.same(root, fi, e) {
		return false, nil
	}
	tmp := path.Join(path.Dir(e.name), "."+path.Base(e.name)+".gitboot-agent."+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := a.writeTemp(root, tmp, e); err != nil {
		root.Remove(tmp)
		return false, fmt.Errorf("writing /%s: %w", e.name, err)
	}
	if err := root.Rename(tmp, e.name); err != nil {
		root.Remove(tmp)
		return false, fmt.Errorf("writing /%s: %w", e.name, err)
	}
	return true, nil
}

func (a *applier) writeTemp(root *os.Root, tmp string, e *entry) error {
	if e.isLink() {
		if err := root.Symlink(e.link, tmp); err != nil {
			return err
		}
		if a.chown {
			return root.Lchown(tmp, e.uid, e.gid)
		}
		return nil
	}
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(e.data)
	if err == nil && a.chown {
		err = f.Chown(e.uid, e.gid) // before Chmod: chown clears setuid
	}
	if err == nil {
		err = f.Chmod(fileMode(e.mode))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	mt := time.Unix(e.mtime, 0)
	return root.Chtimes(tmp, mt, mt)
}

// same reports whether the node's file fi at e's name already is e.
func (a *applier) same(root *os.Root, fi fs.FileInfo, e *entry) bool {
	if a.chown {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != e.uid || int(st.Gid) != e.gid {
			return false
		}
	}
	if e.isLink() {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		target, err := root.Readlink(e.name)
		return err == nil && target == e.link
	}
	if !fi.Mode().IsRegular() || fi.Size() != int64(len(e.data)) || fi.ModTime().Unix() != e.mtime ||
		fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != fileMode(e.mode) {
		return false
	}
	data, err := root.ReadFile(e.name)
	return err == nil && bytes.Equal(data, e.data)
}

// remove deletes a file, symlink (dir false) or empty directory (dir true)
// the agent installed, unless a directory above it became a symlink or it
// is no longer of that kind: it never deletes what it did not install.
func (a *applier) remove(root *os.Root, p string, dir bool) error {
	for _, d := range parents(p) {
		fi, err := root.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone already
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("/%s is no longer a directory", d)
		}
	}
	fi, err := root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() != dir {
		return fmt.Errorf("/%s changed type since the agent installed it", p)
	}
	return root.Remove(p)
}

func (a *applier) writeManifest(root *os.Root, m *manifest) error {
	if err := root.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	// A runtime overlay's overlays.json may have made it (0755) first.
	if err := root.Chmod(stateDir, 0o700); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if cur, err := root.ReadFile(manifestName); err == nil && bytes.Equal(cur, data) {
		return nil // unchanged: not rewritten
	}
	tmp := manifestName + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, manifestName)
	}
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}

// fileMode converts a cpio mode's permission bits.
func fileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}
