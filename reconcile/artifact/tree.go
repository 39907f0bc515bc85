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
)

// File types of tree entries, as the type bits of a cpio newc mode.
const (
	typeMask    = 0o170000
	typeReg     = 0o100000
	typeDir     = 0o040000
	typeSymlink = 0o120000
	typeChar    = 0o020000
	typeBlock   = 0o060000
	typeFifo    = 0o010000
	typeSocket  = 0o140000
	permMask    = 0o7777 // permission bits with setuid, setgid, sticky
)

// Limits that keep a hostile archive from exhausting memory or producing an
// archive the kernel cannot unpack.
const (
	maxPathLen  = 4095    // PATH_MAX less the NUL the cpio header stores
	maxEntries  = 4 << 20 // entries in one image
	maxFileSize = 1<<32 - 1
)

// inode is one file's metadata and content. Hard links are several tree
// nodes sharing one *inode.
type inode struct {
	mode        uint32 // type and permission bits
	uid, gid    int
	mtime       int64
	size        int64
	link        string // symlink target
	rdevMajor   uint32
	rdevMinor   uint32
	data        content
	implicitDir bool // a directory created only because a child needed it
	// declared: an overlay's file block set its owner or mode; skip: an
	// overlay directory the image has, left out of the archive (see
	// placeTree).
	declared, skip bool
}

// content opens a regular file's bytes.
type content interface {
	open() (io.ReadCloser, error)
}

// diskContent is a file on the server's disk (directory sources).
type diskContent string

func (d diskContent) open() (io.ReadCloser, error) { return os.Open(string(d)) }

// spoolContent is a byte range of a spool file holding extracted archive data.
type spoolContent struct {
	f   *os.File
	off int64
	n   int64
}

func (s spoolContent) open() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(s.f, s.off, s.n)), nil
}

// bytesContent is data held in memory (overlays, rendered templates).
type bytesContent []byte

func (b bytesContent) open() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b)), nil
}

// node is one name in a tree.
type node struct {
	ino      *inode
	children map[string]*node // directories only
}

// tree is a file system tree built in memory from an image source or
// overlays. Names are never resolved through symlinks: a path whose parent
// is not a directory is an error, so no archive can write through a link.
type tree struct {
	root    *node
	entries int
}

func newTree() *tree {
	return &tree{root: &node{ino: &inode{mode: typeDir | 0o755}, children: map[string]*node{}}}
}

// errUnsafePath reports a name that leaves the tree or is malformed.
var errUnsafePath = errors.New("unsafe path")

// cleanName turns an archive name into a slash path relative to the root
// ("" for the root itself). Absolute names and names with ".." are refused.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: NUL in name", errUnsafePath)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name %q", errUnsafePath, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q leaves the tree", errUnsafePath, name)
		}
	}
	p := path.Clean("./" + name)
	if p == "." {
		return "", nil
	}
	if len(p) > maxPathLen {
		return "", fmt.Errorf("%w: name of %d bytes", errUnsafePath, len(p))
	}
	return p, nil
}

// dir returns the directory node for p, creating missing directories.
func (t *tree) dir(p string) (*node, error) {
	n := t.root
	if p == "" {
		return n, nil
	}
	for i, part := range strings.Split(p, "/") {
		c, ok := n.children[part]
		if !ok {
			if err := t.count(); err != nil {
				return nil, err
			}
			c = &node{ino: &inode{mode: typeDir | 0o755, implicitDir: true}, children: map[string]*node{}}
			n.children[part] = c
		} else if c.ino.mode&typeMask != typeDir {
			return nil, fmt.Errorf("%w: %s is not a directory", errUnsafePath, strings.Join(strings.Split(p, "/")[:i+1], "/"))
		}
		n = c
	}
	return n, nil
}

func (t *tree) count() error {
	t.entries++
	if t.entries > maxEntries {
		return fmt.Errorf("more than %d entries", maxEntries)
	}
	return nil
}

// put stores ino at p (a cleaned name). A directory put over a directory
// updates its metadata and keeps its children; anything else replaces what
// was there.
func (t *tree) put(p string, ino *inode) error {
	if p == "" {
		if ino.mode&typeMask != typeDir {
			return fmt.Errorf("%w: the root must be a directory", errUnsafePath)
		}
		t.root.ino = ino
		return nil
	}
	parent, err := t.dir(parentOf(p))
	if err != nil {
		return err
	}
	base := path.Base(p)
	old, ok := parent.children[base]
	if ok && old.ino.mode&typeMask == typeDir && ino.mode&typeMask == typeDir {
		old.ino = ino
		return nil
	}
	if !ok {
		if err := t.count(); err != nil {
			return err
		}
	}
	n := &node{ino: ino}
	if ino.mode&typeMask == typeDir {
		n.children = map[string]*node{}
	}
	parent.children[base] = n
	return nil
}

// parentOf returns the cleaned name of p's directory ("" for the root).
func parentOf(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

// lookup finds the node at p without following symlinks.
func (t *tree) lookup(p string) (*node, bool) {
	n := t.root
	if p == "" {
		return n, true
	}
	for _, part := range strings.Split(p, "/") {
		if n.children == nil {
			return nil, false
		}
		c, ok := n.children[part]
		if !ok {
			return nil, false
		}
		n = c
	}
	return n, true
}

// remove deletes p and everything below it.
func (t *tree) remove(p string) {
	if p == "" {
		return
	}
	parent, ok := t.lookup(parentOf(p))
	if ok && parent.children != nil {
		delete(parent.children, path.Base(p))
	}
}

// walk calls fn for every entry below the root in sorted order: names
// sorted byte-wise within a directory, each directory before its contents.
func (t *tree) walk(fn func(p string, ino *inode) error) error {
	return walkNode(t.root, "", fn)
}

func walkNode(n *node, prefix string, fn func(string, *inode) error) error {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := n.children[name]
		p := name
		if prefix != "" {
			p = prefix + "/" + name
		}
		if err := fn(p, c.ino); err != nil {
			return err
		}
		if c.children != nil {
			if err := walkNode(c, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolve follows symlinks inside the tree, as if the tree were chrooted:
// absolute targets start at the tree's root and ".." never leaves it.
func (t *tree) resolve(p string) (string, *inode, bool) {
	for hops := 0; hops < 40; hops++ {
		n, ok := t.lookup(p)
		if !ok {
			return "", nil, false
		}
		if n.ino.mode&typeMask != typeSymlink {
			return p, n.ino, true
		}
		target := n.ino.link
		if !strings.HasPrefix(target, "/") {
			target = path.Join("/", path.Dir(p), target)
		}
		p = strings.TrimPrefix(path.Clean("/"+target), "/")
	}
	return "", nil, false
}
