package notes

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// errRaced is a compare-and-swap that found the ref moved.
var errRaced = errors.New("ref changed meanwhile")

// refFile is one ref of a files-backend repository, updated the way git
// updates it.
type refFile struct {
	own       *owner // what is created gets the repository's owner (nil: as is)
	commonDir string // where refs/, packed-refs and logs/ live
	name      string // "refs/notes/gitboot"
	reflog    bool   // write logs/<name> even if it does not exist yet
	staleLock time.Duration
	lockWait  time.Duration
}

func (r *refFile) path() string { return filepath.Join(r.commonDir, filepath.FromSlash(r.name)) }

// read returns the ref's value: the loose file if there is one, else its
// line in packed-refs, else the zero hash.
func (r *refFile) read() (plumbing.Hash, error) {
	data, err := os.ReadFile(r.path())
	if err == nil {
		s := strings.TrimSpace(string(data))
		if !plumbing.IsHash(s) {
			return plumbing.ZeroHash, fmt.Errorf("reading %s: not a hash: %.60q", r.name, s)
		}
		return plumbing.NewHash(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, fmt.Errorf("reading %s: %w", r.name, err)
	}
	f, err := os.Open(filepath.Join(r.commonDir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading %s: %w", r.name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), " ")
		if ok && name == r.name && plumbing.IsHash(hash) {
			return plumbing.NewHash(hash), nil
		}
	}
	if err := sc.Err(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading %s from packed-refs: %w", r.name, err)
	}
	return plumbing.ZeroHash, nil
}

// compareAndSwap sets the ref to new if it is still old (the zero hash: it
// does not exist), or returns errRaced. It follows git's convention, so it
// excludes a concurrent git: create <ref>.lock exclusively, check the value
// under the lock, write the new value into the lock file and rename it over
// the ref. A ref only in packed-refs gets a loose file, which takes
// precedence, as git does it.
func (r *refFile) compareAndSwap(old, new plumbing.Hash, ident, msg string) error {
	_, err := r.update(func(cur plumbing.Hash) (plumbing.Hash, error) {
		if cur != old {
			return plumbing.ZeroHash, errRaced
		}
		return new, nil
	}, ident, msg)
	return err
}

// update sets the ref to next(its current value) while holding its lock,
// unless next returns the zero hash or an error. It returns what it set.
func (r *refFile) update(next func(cur plumbing.Hash) (plumbing.Hash, error), ident, msg string) (plumbing.Hash, error) {
	lock, err := r.lock()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(lock.Name())
		}
		lock.Close()
	}()
	old, err := r.read()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	new, err := next(old)
	if err != nil || new.IsZero() {
		return plumbing.ZeroHash, err
	}
	if _, err := lock.WriteString(new.String() + "\n"); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("writing %s: %w", lock.Name(), err)
	}
	if err := lock.Sync(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("writing %s: %w", lock.Name(), err)
	}
	if err := r.appendReflog(old, new, ident, msg); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := os.Rename(lock.Name(), r.path()); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("updating %s: %w", r.name, err)
	}
	committed = true
	return new, nil
}

// lock creates <ref>.lock exclusively, waiting up to lockWait while
// someone else holds it. It also takes a flock(2) on the file, which marks
// it as held by a live gitboot process: a lock file that nobody flocks and
// that is older than staleLock was left by a killed process (git holds ref
// locks for milliseconds), and is removed.
func (r *refFile) lock() (*os.File, error) {
	name := r.path() + ".lock"
	if err := r.own.mkdirAll(filepath.Dir(name)); err != nil {
		return nil, fmt.Errorf("locking %s: %w", r.name, err)
	}
	deadline := time.Now().Add(r.lockWait)
	wait := time.Millisecond
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			// The lock becomes the ref: it gets the repository's owner.
			if err := r.own.fix(name); err != nil {
				f.Close()
				os.Remove(name)
				return nil, fmt.Errorf("locking %s: %w", name, err)
			}
			// Blocking: a process checking whether this is stale may hold
			// the flock for a moment.
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				f.Close()
				os.Remove(name)
				return nil, fmt.Errorf("locking %s: %w", name, err)
			}
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking %s: %w", r.name, err)
		}
		if r.removeStaleLock(name) {
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("locking %s: %s exists: another process is updating the notes, "+
				"or one was killed (remove the file if none is running)", r.name, name)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// removeStaleLock removes the lock file name if it is stale (see lock) and
// reports whether it did.
func (r *refFile) removeStaleLock(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) // gone already: try again
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false // a live gitboot holds it
	}
	st, err := f.Stat()
	if err != nil || time.Since(st.ModTime()) < r.staleLock {
		return false
	}
	// Remove it only if the name still means the file we hold.
	if cur, err := os.Stat(name); err != nil || !os.SameFile(st, cur) {
		return false
	}
	return os.Remove(name) == nil
}

// appendReflog adds the update to logs/<ref> as git would: if the log
// exists, or if the repository logs ref updates (one with a work tree).
func (r *refFile) appendReflog(old, new plumbing.Hash, ident, msg string) error {
	name := filepath.Join(r.commonDir, "logs", filepath.FromSlash(r.name))
	flags := os.O_WRONLY | os.O_APPEND
	if r.reflog {
		flags |= os.O_CREATE
		if err := r.own.mkdirAll(filepath.Dir(name)); err != nil {
			return fmt.Errorf("writing the log of %s: %w", r.name, err)
		}
	}
	f, err := os.OpenFile(name, flags, 0o666)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing the log of %s: %w", r.name, err)
	}
	if err := r.own.fix(name); err != nil {
		f.Close()
		return fmt.Errorf("writing the log of %s: %w", r.name, err)
	}
	msg, _, _ = strings.Cut(msg, "\n")
	line := fmt.Sprintf("%s %s %s\t%s\n", old, new, ident, msg)
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the log of %s: %w", r.name, err)
	}
	return nil
}
