package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// safeRoot is the root the agent writes under. Reads (Lstat, Readlink,
// ReadFile) go through os.Root; every write resolves its path without
// following any symlink: the directories leading to it are opened one by
// one with O_NOFOLLOW from the root, and the last component is acted on
// relative to its directory's descriptor with the *at calls that do not
// follow it (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW, renameat, unlinkat). The
// agent writes through the image's own links (sbin/x at usr/sbin/x) by
// resolving names first (diskView.resolveAll): what reaches safeRoot is a
// path with no link in it, so a link planted there between that check and
// the write (a user replacing a directory it owns by a link to /etc) makes
// the write fail (ELOOP, ENOTDIR) instead of landing elsewhere. Chmod opens
// the file itself with O_NOFOLLOW and changes the open descriptor's mode.
//
// The agent's own state directory (stateDir) is the one place reached
// through the image's links as they are when the pass starts (an image may
// link var/lib elsewhere): its location is resolved once, scoped to the
// root (filepath-securejoin), and writes under it go to that resolved
// path, again without following links. Only root can change /var/lib.
type safeRoot struct {
	*os.Root
	dir   string // the root directory, for errors
	state string // stateDir resolved through the image's links, relative to dir
}

func openSafeRoot(dir string) (*safeRoot, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	sr := &safeRoot{Root: r, dir: dir, state: stateDir}
	if abs, err := securejoin.SecureJoin(dir, stateDir); err == nil {
		if rel, err := filepath.Rel(dir, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			sr.state = filepath.ToSlash(rel)
		}
	}
	return sr, nil
}

// real maps a name under stateDir to the state directory's resolved
// location.
func (r *safeRoot) real(name string) string {
	if name == stateDir {
		return r.state
	}
	if rest, ok := strings.CutPrefix(name, stateDir+"/"); ok {
		return r.state + "/" + rest
	}
	return name
}

// errLink is a path that holds a symlink where the agent writes.
var errLink = errors.New("a symlink (or a non-directory) is in the path: not followed")

// components splits a clean relative path; "." and ".." are refused (the
// overlay's names never hold them: checkEntries).
func components(name string) ([]string, error) {
	if name == "" || name == "." {
		return nil, nil
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return nil, fmt.Errorf("%q: not a clean relative path", name)
		}
	}
	return parts, nil
}

// openDir opens directory name (relative to the root) without following
// a symlink in any of its components; the caller closes the descriptor.
// With create, missing directories are made (perm) on the way.
func (r *safeRoot) openDir(name string, create bool, perm fs.FileMode) (int, error) {
	root, err := r.Root.Open(".")
	if err != nil {
		return -1, err
	}
	fd, err := unix.Dup(int(root.Fd()))
	root.Close()
	if err != nil {
		return -1, err
	}
	parts, err := components(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	for _, p := range parts {
		next, err := unix.Openat(fd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, p, uint32(perm.Perm())); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		unix.Close(fd)
		if err != nil {
			if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				return -1, fmt.Errorf("/%s at %q: %w", name, p, errLink)
			}
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// parent opens name's directory (see openDir) and returns it with the
// last component.
func (r *safeRoot) parent(name string) (int, string, error) {
	name = r.real(name)
	fd, err := r.openDir(path.Dir(name), false, 0)
	return fd, path.Base(name), err
}

func (r *safeRoot) wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Mkdir makes directory name (perm, less the umask).
func (r *safeRoot) Mkdir(name string, perm fs.FileMode) error {
	d, base, err := r.parent(name)
	if err != nil {
		return r.wrap("mkdirat", name, err)
	}
	defer unix.Close(d)
	return r.wrap("mkdirat", name, unix.Mkdirat(d, base, uint32(perm.Perm())))
}

// MkdirAll makes name and the directories leading to it.
func (r *safeRoot) MkdirAll(name string, perm fs.FileMode) error {
	fd, err := r.openDir(r.real(name), true, perm)
	if err != nil {
		return r.wrap("mkdirat", name, err)
	}
	return unix.Close(fd)
}

// Lchown sets the owner of name itself, never of what a link names.
func (r *safeRoot) Lchown(name string, uid, gid int) error {
	d, base, err := r.parent(name)
	if err != nil {
		return r.wrap("fchownat", name, err)
	}
	defer unix.Close(d)
	return r.wrap("fchownat", name, unix.Fchownat(d, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW))
}

// Chmod sets name's mode; a symlink is never followed: it is an error.
func (r *safeRoot) Chmod(name string, mode fs.FileMode) error {
	d, base, err := r.parent(name)
	if err != nil {
		return r.wrap("chmod", name, err)
	}
	defer unix.Close(d)
	fd, err := unix.Openat(d, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return r.wrap("chmod", name, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return r.wrap("chmod", name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return r.wrap("chmod", name, fmt.Errorf("is a symlink: %w", errLink))
	}
	// Open the same file for real (O_NOFOLLOW again, and the same inode
	// checked) and change the open descriptor's mode.
	if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&unix.S_IFMT == unix.S_IFREG {
		rfd, err := unix.Openat(d, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			defer unix.Close(rfd)
			var st2 unix.Stat_t
			if err := unix.Fstat(rfd, &st2); err != nil {
				return r.wrap("chmod", name, err)
			}
			if st2.Dev != st.Dev || st2.Ino != st.Ino {
				return r.wrap("chmod", name, errors.New("replaced while its mode was set"))
			}
			return r.wrap("chmod", name, unix.Fchmod(rfd, unixMode(mode)))
		}
	}
	// Unreadable (or not a directory or file): the O_PATH descriptor is
	// the file itself; /proc's link to it names that very inode.
	return r.wrap("chmod", name, unix.Fchmodat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unixMode(mode), 0))
}

// unixMode is mode's permission, setuid, setgid and sticky bits.
func unixMode(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if mode&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if mode&fs.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// Rename renames oldname to newname (neither's last component followed).
func (r *safeRoot) Rename(oldname, newname string) error {
	od, obase, err := r.parent(oldname)
	if err != nil {
		return r.wrap("renameat", oldname, err)
	}
	defer unix.Close(od)
	nd, nbase, err := r.parent(newname)
	if err != nil {
		return r.wrap("renameat", newname, err)
	}
	defer unix.Close(nd)
	return r.wrap("renameat", newname, unix.Renameat(od, obase, nd, nbase))
}

// Link makes newname a hard link to oldname (a link itself, not its target).
func (r *safeRoot) Link(oldname, newname string) error {
	od, obase, err := r.parent(oldname)
	if err != nil {
		return r.wrap("linkat", oldname, err)
	}
	defer unix.Close(od)
	nd, nbase, err := r.parent(newname)
	if err != nil {
		return r.wrap("linkat", newname, err)
	}
	defer unix.Close(nd)
	return r.wrap("linkat", newname, unix.Linkat(od, obase, nd, nbase, 0))
}

// Remove removes file, link or empty directory name.
func (r *safeRoot) Remove(name string) error {
	d, base, err := r.parent(name)
	if err != nil {
		return r.wrap("unlinkat", name, err)
	}
	defer unix.Close(d)
	err = unix.Unlinkat(d, base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(d, base, unix.AT_REMOVEDIR)
	}
	return r.wrap("unlinkat", name, err)
}

// Symlink makes name a symlink to target.
func (r *safeRoot) Symlink(target, name string) error {
	d, base, err := r.parent(name)
	if err != nil {
		return r.wrap("symlinkat", name, err)
	}
	defer unix.Close(d)
	return r.wrap("symlinkat", name, unix.Symlinkat(target, d, base))
}

// OpenFile opens name (never through a link, the last component included).
func (r *safeRoot) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	d, base, err := r.parent(name)
	if err != nil {
		return nil, r.wrap("openat", name, err)
	}
	defer unix.Close(d)
	fd, err := unix.Openat(d, base, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, r.wrap("openat", name, err)
	}
	return os.NewFile(uintptr(fd), path.Join(r.dir, name)), nil
}

// Open opens name for reading, as OpenFile.
func (r *safeRoot) Open(name string) (*os.File, error) {
	return r.OpenFile(name, os.O_RDONLY, 0)
}

// Chtimes sets name's times (a link's own, never its target's).
func (r *safeRoot) Chtimes(name string, atime, mtime time.Time) error {
	d, base, err := r.parent(name)
	if err != nil {
		return r.wrap("utimensat", name, err)
	}
	defer unix.Close(d)
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return r.wrap("utimensat", name, unix.UtimesNanoAt(d, base, ts, unix.AT_SYMLINK_NOFOLLOW))
}
