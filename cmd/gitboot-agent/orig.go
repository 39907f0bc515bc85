package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
	"time"
)

// The node's own files. The first time an overlay replaces a file or
// symlink the node had before the agent (the image's copy), the agent
// keeps that copy under /var/lib/gitboot-agent/orig/PATH: a hard link to
// the same inode, so content, mode, owner, times and SELinux label stay
// exactly as they were (a copy of them when the state directory is on
// another file system). When no overlay ships the path any more, the kept
// copy is renamed back into place; only a path the node never had is
// deleted.
//
// In secure mode the runtime overlay is fetched by the agent at init,
// before anything replaced the image's files, so what it keeps is exact.
// Without it, the runtime overlay is also an initrd the kernel unpacked
// over the image before the agent ever ran: a file the agent then finds
// holding the overlay's own content may be the image's or the overlay's
// copy. The agent records it as unknown (manifest.Unknown) and deletes it
// (and says so) when no overlay ships it any more. A file that differs
// from the overlay at that first apply is kept as the node's own (it is
// the image's, unless the overlay changed between the boot and the
// agent's first fetch).

// saveOriginal keeps the node's own file or symlink at name under origDir.
func (p *pass) saveOriginal(name string) error {
	dst := origDir + "/" + name
	if err := p.root.MkdirAll(path.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("keeping the node's own /%s: %w", name, err)
	}
	// A copy left by an apply that failed before recording it: the node's
	// file is still the one to keep.
	if err := p.root.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keeping the node's own /%s: %w", name, err)
	}
	err := p.root.Link(name, dst)
	if err != nil && errors.Is(err, syscall.EXDEV) {
		err = p.copyNode(name, dst)
	}
	if err != nil {
		return fmt.Errorf("keeping the node's own /%s: %w", name, err)
	}
	return nil
}

// restore puts the node's own copy of name back, in place of the file an
// overlay installed there. A kept copy that is gone is logged, and name
// removed.
func (p *pass) restore(name string) error {
	src := origDir + "/" + name
	if _, err := p.root.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		p.log.Warn("the node's own copy of a file is gone; removing the overlay's", "file", name, "kept", src)
		return p.remove(p.root, name, false)
	}
	for _, d := range parents(name) {
		fi, err := p.root.Lstat(d)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("/%s is no longer a directory", d)
		}
	}
	if fi, err := p.root.Lstat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("/%s changed type since the agent installed it", name)
	}
	err := p.root.Rename(src, name)
	if err != nil && errors.Is(err, syscall.EXDEV) {
		tmp := path.Join(path.Dir(name), "."+path.Base(name)+".gitboot-agent."+strconv.FormatInt(time.Now().UnixNano(), 36))
		if err = p.copyNode(src, tmp); err == nil {
			var fi fs.FileInfo
			if fi, err = p.root.Lstat(tmp); err == nil {
				err = p.labels.labelAs(p.root, tmp, name, fi.Mode().Type())
			}
		}
		if err == nil {
			err = p.root.Rename(tmp, name)
		}
		if err != nil {
			p.root.Remove(tmp)
		} else {
			p.root.Remove(src)
		}
	}
	if err != nil {
		return fmt.Errorf("putting back the node's own /%s: %w", name, err)
	}
	for d := path.Dir(src); d != origDir && d != "."; d = path.Dir(d) {
		if p.root.Remove(d) != nil {
			break // not empty
		}
	}
	return nil
}

// copyNode copies the regular file or symlink src to dst (new), with its
// mode, owner and times.
func (p *pass) copyNode(src, dst string) error {
	fi, err := p.root.Lstat(src)
	if err != nil {
		return err
	}
	at := attrsOf(fi)
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := p.root.Readlink(src)
		if err == nil {
			err = p.root.Symlink(target, dst)
		}
		if err == nil && p.chown {
			err = p.root.Lchown(dst, at.UID, at.GID)
		}
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("/%s is not a file or symlink", src)
	}
	data, err := p.root.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := p.root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && p.chown {
		err = f.Chown(at.UID, at.GID)
	}
	if err == nil {
		err = f.Chmod(fileMode(at.Mode))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = p.root.Chtimes(dst, fi.ModTime(), fi.ModTime())
	}
	if err != nil {
		p.root.Remove(dst)
	}
	return err
}

// restoreDirAttrs gives the directories whose mode or owner an overlay
// changed and that no overlay declares any more their own back (ok: the
// apply succeeded; otherwise every record is kept).
func (p *pass) restoreDirAttrs(declared map[string]bool, ok bool) {
	for d, at := range p.old.DirAttrs {
		if _, still := p.next.DirAttrs[d]; still {
			continue
		}
		if ok && !declared[d] {
			fi, err := p.root.Lstat(d)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err == nil && !fi.IsDir() {
				continue // no longer a directory: nothing to give back
			}
			if err == nil {
				if err = p.setAttrs(d, at); err == nil {
					continue
				}
			}
			p.log.Warn("giving a directory its own mode and owner back failed; retried next time", "dir", d, "err", err)
		}
		if p.next.DirAttrs == nil {
			p.next.DirAttrs = map[string]attrs{}
		}
		p.next.DirAttrs[d] = at
	}
}
