package main

import (
	"bytes"
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

// applyStats counts what an apply did.
type applyStats struct {
	Written, Unchanged, Removed, Restored, Created int
	// Changed are the files and symlinks written, removed or restored
	// (not directories), by the overlay's names, for post_apply commands.
	Changed []string
}

// applier installs runtime overlays under a root directory.
type applier struct {
	dir   string // the root, e.g. "/"
	log   *slog.Logger
	chown bool // owners are set only when running as root
	// bootInitrd: the runtime overlay was also a boot initrd (not
	// secure_runtime), so at the first apply the node's copy of an
	// overlay file may be the overlay's own (see manifest.Unknown).
	bootInitrd bool
	labels     *labeler // SELinux labels; nil when SELinux is off
}

func newApplier(dir string, log *slog.Logger) *applier {
	return &applier{dir: dir, log: log, chown: os.Geteuid() == 0, labels: newLabeler(dir, log)}
}

// afterCheck, when set (a test), runs between the checks of an apply and
// its writes: where a user could plant a link.
var afterCheck func(root string)

// pass is one apply: what it found, what it did, what it records.
type pass struct {
	*applier
	root      *safeRoot
	disk      *diskView
	old, next *manifest
	st        applyStats
	origs     map[string]bool // old.Originals
	unknown   map[string]bool // old.Unknown
	tracked   map[string]bool // directories the agent created
	synced    map[string]bool // directories to fsync
}

// apply makes the root hold ents (a checked overlay, sorted by name).
// First it moves each entry through the image's symlinks (sbin/x lands
// at usr/sbin/x when /sbin -> usr/sbin) and checks every entry against
// what is on disk: it refuses the overlay (a *refusal, nothing written)
// when one would write through a symlink an overlay installed or one
// leaving the root, or replace a directory by a file or the reverse.
// Then it writes each changed file atomically (a temporary file in the
// same directory, owner, mode, fsync, rename) with the archive's mode,
// owner and mtime, keeping the node's own copy the first time it replaces
// one; creates missing directories and gives declared ones their mode and
// owner; and removes what the previous overlay installed that ents no
// longer has, putting the node's own copy back where it kept one. etag is
// recorded once all of it succeeded.
func (a *applier) apply(ents []entry, etag string) (applyStats, error) {
	root, err := openSafeRoot(a.dir)
	if err != nil {
		return applyStats{}, fmt.Errorf("opening the root: %w", err)
	}
	defer root.Close()
	a.labels.reload()
	p := &pass{applier: a, root: root, old: a.readManifest(), next: &manifest{Version: 1},
		tracked: map[string]bool{}, synced: map[string]bool{}}
	p.disk = &diskView{root: root, seen: map[string]fs.FileInfo{}, owned: set(p.old.Files)}
	p.origs, p.unknown = set(p.old.Originals), set(p.old.Unknown)
	for _, d := range p.old.Dirs {
		p.tracked[d] = true
	}
	if ents, err = p.disk.resolveAll(ents); err != nil {
		return p.st, err
	}
	if err := p.disk.check(ents); err != nil {
		return p.st, err
	}
	if afterCheck != nil {
		afterCheck(a.dir)
	}
	applyErr := p.install(ents)
	wantDir, declared, wantFile := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range ents {
		e := &ents[i]
		if e.isDir() {
			wantDir[e.name], declared[e.name] = true, true
		} else {
			wantFile[e.name] = true
		}
		for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
			wantDir[d] = true
		}
	}
	if applyErr != nil {
		p.next.merge(p.old) // still tracked: a later apply removes it
	} else {
		p.removeOld(wantFile)
	}
	p.restoreDirAttrs(declared, applyErr == nil)
	// Directories the agent created and the overlay no longer has, deepest
	// first; one that is not empty stays (and stays tracked).
	dirs := make([]string, 0, len(p.tracked))
	for d := range p.tracked {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(x, y string) int { return len(y) - len(x) })
	for _, d := range dirs {
		if applyErr == nil && !wantDir[d] {
			if err := a.remove(root, d, true); err == nil {
				p.st.Removed++
				continue
			}
		}
		p.next.Dirs = append(p.next.Dirs, d)
	}
	for _, l := range [][]string{p.next.Files, p.next.Dirs, p.next.Originals, p.next.Unknown} {
		slices.Sort(l)
	}
	for d := range p.synced {
		if f, err := root.Open(d); err == nil {
			f.Sync()
			f.Close()
		}
	}
	if applyErr == nil {
		p.next.ETag = etag
	}
	if err := a.writeManifest(root, p.next); err != nil && applyErr == nil {
		applyErr = err
	}
	return p.st, applyErr
}

func set(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

// install creates, writes and updates ents in order, and stops at the
// first failure.
func (p *pass) install(ents []entry) error {
	for i := range ents {
		e := &ents[i]
		created, err := p.disk.mkdirParents(e.name)
		for _, d := range created {
			p.tracked[d] = true
			p.st.Created++
			if err == nil {
				err = p.labels.label(p.root, d, fs.ModeDir)
			}
		}
		if err != nil {
			return err
		}
		if e.isDir() {
			if err := p.dir(e); err != nil {
				return err
			}
			continue
		}
		changed, err := p.write(e)
		if err != nil {
			return err
		}
		p.next.Files = append(p.next.Files, e.name)
		if e.shipped != "" {
			p.next.setVia(e.name, e.shipped)
		}
		if changed {
			p.st.Written++
			p.st.Changed = append(p.st.Changed, e.shippedName())
			p.synced[path.Dir(e.name)] = true
		} else {
			p.st.Unchanged++
		}
	}
	return nil
}

// removeOld removes what the previous overlay installed and ents no
// longer has, or puts the node's own copy back where one was kept. What
// fails stays tracked and is retried next time.
func (p *pass) removeOld(wantFile map[string]bool) {
	for _, f := range p.old.Files {
		if wantFile[f] {
			continue
		}
		var err error
		if p.origs[f] {
			err = p.restore(f)
		} else {
			err = p.remove(p.root, f, false)
		}
		if err != nil {
			p.log.Warn("removing a file the previous overlay installed failed; retried next time", "file", f, "err", err)
			p.next.Files = append(p.next.Files, f)
			if p.origs[f] {
				p.next.Originals = append(p.next.Originals, f)
			}
			if p.unknown[f] {
				p.next.Unknown = append(p.next.Unknown, f)
			}
			if v, ok := p.old.Via[f]; ok {
				p.next.setVia(f, v)
			}
			continue
		}
		if p.origs[f] {
			p.st.Restored++
		} else {
			p.st.Removed++
			if p.unknown[f] {
				p.log.Info("removed a file no overlay ships any more; whether the image has its own copy is unknown (the runtime overlay was also a boot initrd: use secure_runtime to keep the image's copies)", "file", f)
			}
		}
		shipped := f
		if v, ok := p.old.Via[f]; ok {
			shipped = v
		}
		p.st.Changed = append(p.st.Changed, shipped)
		p.synced[path.Dir(f)] = true
	}
}

// dir creates directory e when it is missing, or gives an existing one
// e's mode and owner (keeping what it had before in the manifest, unless
// the agent created it).
func (p *pass) dir(e *entry) error {
	fi, err := p.disk.lstat(e.name)
	if err != nil {
		return err
	}
	if fi == nil {
		if err := p.root.Mkdir(e.name, 0o700); err != nil {
			return fmt.Errorf("creating /%s: %w", e.name, err)
		}
		p.disk.seen[e.name] = dirInfo{}
		p.tracked[e.name] = true
		p.st.Created++
		if err := p.labels.label(p.root, e.name, fs.ModeDir); err != nil {
			return fmt.Errorf("creating /%s: %w", e.name, err)
		}
		return p.setAttrs(e.name, attrs{e.mode & permMask, e.uid, e.gid})
	}
	if _, ok := fi.(dirInfo); ok {
		if fi, err = p.root.Lstat(e.name); err != nil {
			return err
		}
	}
	cur := attrsOf(fi)
	want := attrs{e.mode & permMask, e.uid, e.gid}
	if !p.chown {
		want.UID, want.GID = cur.UID, cur.GID
	}
	if cur == want {
		return nil
	}
	if _, ok := p.next.DirAttrs[e.name]; !ok && !p.tracked[e.name] {
		if before, ok := p.old.DirAttrs[e.name]; ok {
			cur = before
		}
		if p.next.DirAttrs == nil {
			p.next.DirAttrs = map[string]attrs{}
		}
		p.next.DirAttrs[e.name] = cur
	}
	p.st.Written++
	return p.setAttrs(e.name, want)
}

// setAttrs gives directory name its owner (when root), then its mode
// (chown clears setgid).
func (p *pass) setAttrs(name string, at attrs) error {
	if p.chown {
		if err := p.root.Lchown(name, at.UID, at.GID); err != nil {
			return fmt.Errorf("setting the owner of /%s: %w", name, err)
		}
	}
	if err := p.root.Chmod(name, fileMode(at.Mode)); err != nil {
		return fmt.Errorf("setting the mode of /%s: %w", name, err)
	}
	return nil
}

// attrsOf reads a directory's mode bits and owner.
func attrsOf(fi fs.FileInfo) attrs {
	m := uint32(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	at := attrs{Mode: m}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		at.UID, at.GID = int(st.Uid), int(st.Gid)
	}
	return at
}

// write installs a regular file or symlink atomically unless the node has
// it already, with the same content and metadata. changed reports a write.
// The first time an overlay takes over a path the node already has, the
// node's copy is kept (saveOriginal).
func (p *pass) write(e *entry) (changed bool, err error) {
	fi, err := p.disk.lstat(e.name)
	if err != nil {
		return false, err
	}
	same := fi != nil && p.same(p.root, fi, e)
	var kept, unknown bool // recorded once the write succeeded
	switch {
	case fi == nil:
	case p.disk.owned[e.name]:
		kept, unknown = p.origs[e.name], p.unknown[e.name]
	case p.bootInitrd && !p.old.found && sameContent(p.root, fi, e):
		// Maybe the kernel's copy from the runtime initrd (its mode and
		// mtime as the kernel left them): see orig.go.
		unknown = true
	default:
		if err := p.saveOriginal(e.name); err != nil {
			return false, err
		}
		kept = true
	}
	if !same {
		tmp := path.Join(path.Dir(e.name), "."+path.Base(e.name)+".gitboot-agent."+strconv.FormatInt(time.Now().UnixNano(), 36))
		err := p.writeTemp(p.root, tmp, e)
		if err == nil {
			err = p.labels.labelAs(p.root, tmp, e.name, typeOf(e))
		}
		if err == nil {
			err = p.root.Rename(tmp, e.name)
		}
		if err != nil {
			p.root.Remove(tmp)
			return false, fmt.Errorf("writing /%s: %w", e.name, err)
		}
	}
	if kept {
		p.next.Originals = append(p.next.Originals, e.name)
	}
	if unknown {
		p.next.Unknown = append(p.next.Unknown, e.name)
	}
	return !same, nil
}

// typeOf is e's file type as fs.FileMode type bits.
func typeOf(e *entry) fs.FileMode {
	switch {
	case e.isDir():
		return fs.ModeDir
	case e.isLink():
		return fs.ModeSymlink
	}
	return 0
}

func (a *applier) writeTemp(root *safeRoot, tmp string, e *entry) error {
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

// same reports whether the node's file fi at e's name already is e:
// content, mode, owner (when root) and mtime.
func (a *applier) same(root *safeRoot, fi fs.FileInfo, e *entry) bool {
	if a.chown {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != e.uid || int(st.Gid) != e.gid {
			return false
		}
	}
	if !e.isLink() && (fi.ModTime().Unix() != e.mtime ||
		fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != fileMode(e.mode)) {
		return false
	}
	return sameContent(root, fi, e)
}

// sameContent reports whether the node's file fi at e's name has e's
// type and content (a symlink: its target).
func sameContent(root *safeRoot, fi fs.FileInfo, e *entry) bool {
	if e.isLink() {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		target, err := root.Readlink(e.name)
		return err == nil && target == e.link
	}
	if !fi.Mode().IsRegular() || fi.Size() != int64(len(e.data)) {
		return false
	}
	data, err := root.ReadFile(e.name)
	return err == nil && bytes.Equal(data, e.data)
}

// remove deletes a file, symlink (dir false) or empty directory (dir true)
// the agent installed, unless a directory above it became a symlink or it
// is no longer of that kind: it never deletes what it did not install.
func (a *applier) remove(root *safeRoot, p string, dir bool) error {
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
