package notes

// Ownership of what the notes writer creates.
//
// gitboot serve usually runs as root and writes notes into a bare
// repository operators push to as themselves. A directory objects/xx/ it
// creates as root (mode 0755) makes every later push of an object whose
// name starts with xx fail for the repository's owner ("unable to migrate
// objects to permanent storage"), and `git gc` fails to prune it. So every
// directory and file the notes writer creates in the repository is given
// the owner and group of the repository's git directory and the mode git
// itself would give it under core.sharedRepository (adjust_shared_perm in
// git's path.c).
//
// The objects are written in-process by go-git, not by git commands, so
// running git as the owner (SysProcAttr.Credential) is not an option; the
// writer instead goes through a billy filesystem that fixes each path it
// creates right after creating it (before any other process can rely on
// it), and the notes ref, its lock and its reflog get the same treatment.
// Not being root, chown to another user is impossible: then the group is
// still set where permitted (a member of the repository's group) and the
// shared mode always, which is what a shared repository needs.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/config"
)

// owner is the ownership and sharing mode of one repository.
type owner struct {
	root     string // the common git directory
	uid, gid int
	// shared is core.sharedRepository as git keeps it: 0 umask, > 0 the
	// permission bits to add (0660 group, 0664 all), < 0 the exact bits
	// (negated), e.g. -0640.
	shared int
	chown  bool // uid/gid differ from this process's: chown what is made
}

// repoOwner reads the ownership of the repository whose common git
// directory is commonDir.
func repoOwner(commonDir string) (*owner, error) {
	st, err := os.Stat(commonDir)
	if err != nil {
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return &owner{root: commonDir, uid: -1, gid: -1}, nil
	}
	o := &owner{root: commonDir, uid: int(sys.Uid), gid: int(sys.Gid)}
	o.chown = o.uid != os.Geteuid() || o.gid != os.Getegid()
	if data, err := os.ReadFile(filepath.Join(commonDir, "config")); err == nil {
		cfg := config.NewConfig()
		if cfg.Unmarshal(data) == nil {
			o.shared = parseShared(cfg.Raw.Section("core").Option("sharedRepository"))
		}
	}
	return o, nil
}

// parseShared reads core.sharedRepository as git does (git_config_perm).
func parseShared(v string) int {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "umask", "false", "no", "off", "0":
		return 0
	case "group", "true", "yes", "on", "1":
		return 0o660
	case "all", "world", "everybody", "2":
		return 0o664
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n&0o600 != 0o600 {
		// git refuses a mode the owner cannot read and write; so do we
		// (and fall back to the umask).
		return 0
	}
	if n&0o777 == 0o660 || n&0o777 == 0o664 {
		return int(n & 0o777)
	}
	return -int(n & 0o666)
}

// mode is the mode git gives a path of mode m (calc_shared_perm and the
// directory rules of adjust_shared_perm).
func (o *owner) mode(m fs.FileMode) fs.FileMode {
	if o.shared == 0 {
		return m
	}
	tweak := fs.FileMode(o.shared)
	if o.shared < 0 {
		tweak = fs.FileMode(-o.shared)
	}
	if m&0o200 == 0 {
		tweak &^= 0o222
	}
	if m&0o100 != 0 {
		tweak |= (tweak & 0o444) >> 2
	}
	if o.shared < 0 {
		m = m&^0o777 | tweak
	} else {
		m |= tweak
	}
	if m.IsDir() {
		m |= (m & 0o444) >> 2
		m |= fs.ModeSetgid
	}
	return m
}

// fix gives path (absolute) the repository's shared mode, then its owner
// (in this order: once given away, the mode could only be changed with
// CAP_FOWNER).
func (o *owner) fix(path string) error {
	if o == nil {
		return nil
	}
	if o.shared != 0 {
		st, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			if want := o.mode(st.Mode()); want != st.Mode() {
				if err := os.Chmod(path, want.Perm()|want&(fs.ModeSetgid|fs.ModeSetuid|fs.ModeSticky)); err != nil {
					return err
				}
			}
		}
	}
	if o.chown && o.uid >= 0 {
		uid := o.uid
		if os.Geteuid() != 0 {
			uid = -1 // only root may give a file away; the group may work
		}
		if err := os.Lchown(path, uid, o.gid); err != nil && os.Geteuid() == 0 {
			return err
		}
	}
	return nil
}

// mkdirAll makes dir (absolute, inside the repository) and its missing
// parents, each fixed as it is made.
func (o *owner) mkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := o.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o777); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	if o == nil {
		return nil
	}
	return o.fix(dir)
}

// ownedFS is the repository's billy filesystem with every directory and
// file it creates fixed by own (paths are relative to own.root).
type ownedFS struct {
	billy.Filesystem
	own *owner
}

func (f ownedFS) abs(p string) string {
	if filepath.IsAbs(p) && strings.HasPrefix(p, f.own.root) {
		return p
	}
	return filepath.Join(f.own.root, p)
}

func (f ownedFS) MkdirAll(p string, _ fs.FileMode) error { return f.own.mkdirAll(f.abs(p)) }

func (f ownedFS) TempFile(dir, prefix string) (billy.File, error) {
	if err := f.own.mkdirAll(f.abs(dir)); err != nil {
		return nil, err
	}
	file, err := f.Filesystem.TempFile(dir, prefix)
	if err != nil {
		return nil, err
	}
	if err := f.own.fix(f.abs(file.Name())); err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

func (f ownedFS) Create(p string) (billy.File, error) {
	return f.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (f ownedFS) OpenFile(p string, flag int, perm fs.FileMode) (billy.File, error) {
	if flag&os.O_CREATE == 0 {
		return f.Filesystem.OpenFile(p, flag, perm)
	}
	if err := f.own.mkdirAll(filepath.Dir(f.abs(p))); err != nil {
		return nil, err
	}
	file, err := f.Filesystem.OpenFile(p, flag, perm)
	if err != nil {
		return nil, err
	}
	if err := f.own.fix(f.abs(p)); err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

func (f ownedFS) Rename(from, to string) error {
	if err := f.own.mkdirAll(filepath.Dir(f.abs(to))); err != nil {
		return err
	}
	if err := f.Filesystem.Rename(from, to); err != nil {
		return err
	}
	if rel, err := filepath.Rel(f.own.root, f.abs(to)); err == nil && strings.HasPrefix(rel, "objects"+string(filepath.Separator)) {
		// Objects and packs are read-only, as git makes them (go-git's
		// own chmod comes after the owner changed: too late without
		// CAP_FOWNER).
		if err := os.Chmod(f.abs(to), 0o444); err != nil {
			return err
		}
	}
	return f.own.fix(f.abs(to))
}

// Chmod keeps go-git's read-only objects (0444) shared as git would.
func (f ownedFS) Chmod(p string, mode fs.FileMode) error {
	c, ok := f.Filesystem.(billy.Chmod)
	if !ok {
		return nil
	}
	want := f.own.mode(mode).Perm()
	if st, err := os.Lstat(f.abs(p)); err == nil && st.Mode().Perm() == want {
		return nil // Rename made it so already
	}
	return c.Chmod(p, want)
}

// Capabilities are the wrapped filesystem's.
func (f ownedFS) Capabilities() billy.Capability { return billy.Capabilities(f.Filesystem) }
