package gitsrc

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TreeFS is a read-only fs.FS over a git tree. Symbolic links are reported
// by Lstat and ReadLink and are never followed: Open on one fails. It reads
// through its Source (under the Source's lock, with the pack index reloaded
// when packs changed), so it stays readable after a push or `git gc` as long
// as the commit's objects exist.
type TreeFS struct {
	src   *Source
	tree  *object.Tree
	mtime time.Time
}

// read runs f under the Source's lock (go-git trees and stores are not safe
// for concurrent use), retrying once if the pack files changed.
func (t *TreeFS) read(f func() error) error {
	if t.src == nil {
		return f()
	}
	return t.src.read(f)
}

func (t *TreeFS) entry(op, name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: t.tree.Hash}, nil
	}
	e, err := t.tree.FindEntry(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

// Open implements fs.FS.
func (t *TreeFS) Open(name string) (f fs.File, err error) {
	err = t.read(func() error {
		f, err = t.open(name)
		return err
	})
	return f, err
}

func (t *TreeFS) open(name string) (fs.File, error) {
	e, err := t.entry("open", name)
	if err != nil {
		return nil, err
	}
	info, err := t.info(e, name)
	if err != nil {
		return nil, err
	}
	switch {
	case e.Mode == filemode.Dir:
		return &treeDir{fs: t, name: name, info: info}, nil
	case e.Mode == filemode.Symlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a symbolic link (not followed)")}
	case e.Mode == filemode.Submodule:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a git submodule (not supported)")}
	}
	data, err := t.blob(name)
	if err != nil {
		return nil, err
	}
	return &treeFile{Reader: bytes.NewReader(data), info: info}, nil
}

func (t *TreeFS) blob(name string) ([]byte, error) {
	f, err := t.tree.File(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer r.Close()
	// Sized up front (io.ReadAll's growth allocates some three times a
	// large file, such as 10,000 node blocks), with room for the read
	// that finds the end.
	data := make([]byte, 0, max(f.Size, 0)+512)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
	}
}

// Stat implements fs.StatFS (symlinks are not followed, as in Lstat).
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) { return t.Lstat(name) }

// Lstat implements fs.ReadLinkFS.
func (t *TreeFS) Lstat(name string) (info fs.FileInfo, err error) {
	err = t.read(func() error {
		e, err := t.entry("lstat", name)
		if err != nil {
			return err
		}
		info, err = t.info(e, name)
		return err
	})
	return info, err
}

// ReadLink implements fs.ReadLinkFS.
func (t *TreeFS) ReadLink(name string) (target string, err error) {
	err = t.read(func() error {
		target, err = t.readLink(name)
		return err
	})
	return target, err
}

func (t *TreeFS) readLink(name string) (string, error) {
	e, err := t.entry("readlink", name)
	if err != nil {
		return "", err
	}
	if e.Mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	data, err := t.blob(name)
	return string(data), err
}

// ReadDir implements fs.ReadDirFS.
func (t *TreeFS) ReadDir(name string) (es []fs.DirEntry, err error) {
	err = t.read(func() error {
		es, err = t.readDir(name)
		return err
	})
	return es, err
}

func (t *TreeFS) readDir(name string) ([]fs.DirEntry, error) {
	e, err := t.entry("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	sub := t.tree
	if name != "." {
		if sub, err = t.tree.Tree(name); err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
	}
	out := make([]fs.DirEntry, 0, len(sub.Entries))
	for i := range sub.Entries {
		se := &sub.Entries[i]
		info, err := t.infoIn(sub, se, se.Name, path.Join(name, se.Name))
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (t *TreeFS) info(e *object.TreeEntry, name string) (*treeInfo, error) {
	return t.infoIn(t.tree, e, name, name)
}

// infoIn describes entry e, found in parent as rel, named name in t.
func (t *TreeFS) infoIn(parent *object.Tree, e *object.TreeEntry, rel, name string) (*treeInfo, error) {
	ti := &treeInfo{name: path.Base(name), mode: fsMode(e.Mode), mtime: t.mtime}
	if e.Mode.IsFile() {
		var err error
		if ti.size, err = parent.Size(rel); err != nil {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
	}
	return ti, nil
}

func fsMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o755
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Submodule:
		return fs.ModeIrregular
	default:
		return 0o644
	}
}

type treeInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (i *treeInfo) Name() string       { return i.name }
func (i *treeInfo) Size() int64        { return i.size }
func (i *treeInfo) Mode() fs.FileMode  { return i.mode }
func (i *treeInfo) ModTime() time.Time { return i.mtime }
func (i *treeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *treeInfo) Sys() any           { return nil }

type treeFile struct {
	*bytes.Reader
	info *treeInfo
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Close() error               { return nil }

type treeDir struct {
	fs      *TreeFS
	name    string
	info    *treeInfo
	entries []fs.DirEntry
	read    bool
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Close() error               { return nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		es, err := d.fs.ReadDir(d.name)
		if err != nil {
			return nil, err
		}
		d.entries, d.read = es, true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	if n > len(d.entries) {
		n = len(d.entries)
	}
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}
