package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The stage-one extractor: unpacks cpio newc archives (several may follow
// each other, with NUL padding between, as in an initrd) into a directory
// the way the kernel unpacks an initramfs: a directory over a directory
// keeps its content, anything else replaces what is there; hard links are
// linked to the first name of their inode (the data may come with any of
// the names); names never leave the directory (os.Root).

// cpioMaxName bounds an entry's name.
const cpioMaxName = 4096

// Entry types besides those of archive.go.
const (
	typeChar  = 0o020000
	typeBlock = 0o060000
	typeFifo  = 0o010000
)

// cpioHeader is one newc header.
type cpioHeader struct {
	ino, mode, uid, gid, nlink uint32
	mtime                      int64
	size                       int64
	devMajor, devMinor         uint32
	rdevMajor, rdevMinor       uint32
	name                       string
}

// extractor unpacks archives into root.
type extractor struct {
	root  *os.Root
	links map[[3]uint32]string // (dev major, dev minor, ino) -> first name
	// onFile, when set, is told the name and content of every regular
	// file as it is written (stage one hashes the runtime overlay's file).
	onFile func(name string) io.Writer
	files  int64
	bytes  int64
	buf    []byte
}

func newExtractor(root *os.Root) *extractor {
	return &extractor{root: root, links: map[[3]uint32]string{}, buf: make([]byte, 1<<20)}
}

// extract unpacks every archive in r until its end.
func (x *extractor) extract(r io.Reader) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var off int64
	for {
		// NUL padding between archives.
		b, err := br.Peek(1)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if b[0] == 0 {
			br.Discard(1)
			off++
			continue
		}
		h, err := readCPIOHeader(br)
		if err != nil {
			return fmt.Errorf("cpio at byte %d: %w", off, err)
		}
		n := int64(110 + len(h.name) + 1)
		n += int64(pad4(uint64(n)))
		off += n
		if h.name == "TRAILER!!!" {
			x.links = map[[3]uint32]string{}
			continue
		}
		if err := x.entry(br, h); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
		off += h.size + int64(pad4(uint64(h.size)))
	}
}

func readCPIOHeader(br *bufio.Reader) (*cpioHeader, error) {
	var raw [110]byte
	if _, err := io.ReadFull(br, raw[:]); err != nil {
		return nil, noEOF(err)
	}
	if string(raw[:6]) != "070701" && string(raw[:6]) != "070702" {
		return nil, fmt.Errorf("not a cpio newc header (magic %q)", raw[:6])
	}
	var f [13]uint64
	for i := range f {
		v, err := strconv.ParseUint(string(raw[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("bad header field %d", i)
		}
		f[i] = v
	}
	namesize := f[11]
	if namesize == 0 || namesize > cpioMaxName {
		return nil, fmt.Errorf("name of %d bytes", namesize)
	}
	name := make([]byte, namesize)
	if _, err := io.ReadFull(br, name); err != nil {
		return nil, noEOF(err)
	}
	if _, err := br.Discard(int(pad4(110 + namesize))); err != nil {
		return nil, noEOF(err)
	}
	return &cpioHeader{ino: uint32(f[0]), mode: uint32(f[1]), uid: uint32(f[2]), gid: uint32(f[3]), nlink: uint32(f[4]),
		mtime: int64(f[5]), size: int64(f[6]), devMajor: uint32(f[7]), devMinor: uint32(f[8]),
		rdevMajor: uint32(f[9]), rdevMinor: uint32(f[10]), name: string(bytes.TrimRight(name, "\x00"))}, nil
}

// entry writes one entry (its content follows in br).
func (x *extractor) entry(br *bufio.Reader, h *cpioHeader) error {
	name, err := stageName(h.name)
	if err != nil {
		return err
	}
	skipData := func() error {
		_, err := br.Discard(int(h.size + int64(pad4(uint64(h.size)))))
		return noEOF(err)
	}
	if name == "" { // the root itself
		return skipData()
	}
	if dir := path.Dir(name); dir != "." {
		// The kernel needs the directories first; gitboot's archives have
		// them, but a parent missing is made rather than failing.
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	perm := fs.FileMode(h.mode & 0o777)
	if h.mode&0o4000 != 0 {
		perm |= fs.ModeSetuid
	}
	if h.mode&0o2000 != 0 {
		perm |= fs.ModeSetgid
	}
	if h.mode&0o1000 != 0 {
		perm |= fs.ModeSticky
	}
	switch h.mode & typeMask {
	case typeDir:
		if fi, err := x.root.Lstat(name); err == nil && !fi.IsDir() {
			if err := x.root.Remove(name); err != nil {
				return err
			}
		}
		if err := x.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := x.root.Chown(name, int(h.uid), int(h.gid)); err != nil {
			return err
		}
		if err := x.root.Chmod(name, perm); err != nil {
			return err
		}
		return skipData()
	case typeReg:
		return x.file(br, h, name, perm)
	case typeSymlink:
		if h.size > cpioMaxName {
			return fmt.Errorf("symlink target of %d bytes", h.size)
		}
		target := make([]byte, h.size)
		if _, err := io.ReadFull(br, target); err != nil {
			return noEOF(err)
		}
		if _, err := br.Discard(int(pad4(uint64(h.size)))); err != nil {
			return noEOF(err)
		}
		x.clear(name)
		if err := x.root.Symlink(string(target), name); err != nil {
			return err
		}
		return x.root.Lchown(name, int(h.uid), int(h.gid))
	case typeChar, typeBlock, typeFifo:
		if err := skipData(); err != nil {
			return err
		}
		x.clear(name)
		return x.mknod(name, h)
	default: // sockets and unknown types are skipped, as the kernel does
		return skipData()
	}
}

// file writes a regular file, or links it to the first name of its inode.
func (x *extractor) file(br *bufio.Reader, h *cpioHeader, name string, perm fs.FileMode) error {
	key := [3]uint32{h.devMajor, h.devMinor, h.ino}
	linked := false
	if h.nlink > 1 {
		if first, ok := x.links[key]; ok {
			x.clear(name)
			if err := x.root.Link(first, name); err != nil {
				return err
			}
			if h.size == 0 {
				return nil
			}
			name, linked = first, true // the data comes with a later name: write it to the inode
		} else {
			x.links[key] = name
		}
	}
	if !linked {
		x.clear(name)
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var w io.Writer = f
	if x.onFile != nil {
		if hw := x.onFile(name); hw != nil {
			w = io.MultiWriter(f, hw)
		}
	}
	_, err = io.CopyBuffer(w, io.LimitReader(br, h.size), x.buf)
	if err == nil {
		_, err = br.Discard(int(pad4(uint64(h.size))))
	}
	if err == nil {
		err = f.Chown(int(h.uid), int(h.gid))
	}
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return noEOF(err)
	}
	x.files++
	x.bytes += h.size
	t := time.Unix(h.mtime, 0)
	return x.root.Chtimes(name, t, t)
}

// clear removes a non-directory at name (the kernel replaces it).
func (x *extractor) clear(name string) {
	if fi, err := x.root.Lstat(name); err == nil && !fi.IsDir() {
		x.root.Remove(name)
	}
}

// mknod makes a device node or FIFO in its parent directory (opened inside
// the root, so the name cannot leave it).
func (x *extractor) mknod(name string, h *cpioHeader) error {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "."
	}
	d, err := x.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	dev := unix.Mkdev(h.rdevMajor, h.rdevMinor)
	if err := unix.Mknodat(int(d.Fd()), base, h.mode&(typeMask|0o7777), int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return unix.Fchownat(int(d.Fd()), base, int(h.uid), int(h.gid), unix.AT_SYMLINK_NOFOLLOW)
}

// stageName cleans an archive name: relative, no "..", no NUL.
func stageName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 || len(name) > cpioMaxName {
		return "", errors.New("bad name")
	}
	n := strings.TrimPrefix(name, "./")
	if strings.HasPrefix(n, "/") {
		n = strings.TrimLeft(n, "/")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", errors.New("name leaves the root")
		}
	}
	c := path.Clean("./" + n)
	if c == "." {
		return "", nil
	}
	return c, nil
}
