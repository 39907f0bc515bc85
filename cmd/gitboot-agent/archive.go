package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// decompressOverlay returns a reader of an overlay's cpio bytes: the
// server compresses a runtime overlay as the node's image (gzip, zstd or
// none, see the image block's compression).
func decompressOverlay(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() {}, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// Limits on one runtime overlay, so a hostile or broken archive cannot
// exhaust a node's memory: the whole overlay is read and checked before
// anything is written.
const (
	maxArchive = 256 << 20 // uncompressed bytes
	maxEntries = 100000
	maxName    = 4096
)

// Entry types, as the type bits of a cpio newc mode.
const (
	typeMask    = 0o170000
	typeReg     = 0o100000
	typeDir     = 0o040000
	typeSymlink = 0o120000
	permMask    = 0o7777
)

// entry is one file of a runtime overlay.
type entry struct {
	name     string // cleaned, relative to the root, never "" or with ".."
	mode     uint32 // type and permission bits
	uid, gid int
	mtime    int64
	data     []byte // a regular file's content
	link     string // a symlink's target
	// shipped is the archive's name when the node's symlinks moved the
	// entry elsewhere (resolve), "" when name is the archive's.
	shipped string
}

func (e *entry) isDir() bool  { return e.mode&typeMask == typeDir }
func (e *entry) isLink() bool { return e.mode&typeMask == typeSymlink }

// shippedName is the entry's name in the archive.
func (e *entry) shippedName() string {
	if e.shipped != "" {
		return e.shipped
	}
	return e.name
}

// refusal is an overlay the agent will not apply: what is wrong with
// which entry. Nothing of such an overlay is written.
type refusal struct {
	name string
	why  string
}

func (r *refusal) Error() string { return fmt.Sprintf("refusing the overlay: %q %s", r.name, r.why) }

// readOverlay reads a compressed (gzip, zstd) or plain cpio newc archive (what the server
// sends as /runtime/{mac}) and checks every entry: a name that is
// absolute, holds "..", or lies below another entry that is not a
// directory (a write through the archive's own symlink), a device node,
// FIFO or socket, a duplicate, or a name in the agent's own state
// directory refuses the whole overlay (a *refusal). Entries are returned
// sorted by name, so a directory comes before its contents.
func readOverlay(r io.Reader) ([]entry, error) {
	zr, done, err := decompressOverlay(r)
	if err != nil {
		return nil, fmt.Errorf("reading the overlay: %w", err)
	}
	defer done()
	ents, err := readCPIO(io.LimitReader(zr, maxArchive+1))
	if err != nil {
		return nil, err
	}
	// Whatever follows the trailer (padding) is not read: the archive is
	// whole once the trailer was seen.
	return checkEntries(ents)
}

// readCPIO parses cpio newc entries up to the trailer. Hard links (entries
// sharing an inode, the data on the group's last one, as GNU cpio and the
// server write them) become separate files with the same content.
func readCPIO(r io.Reader) ([]entry, error) {
	br := bufio.NewReader(r)
	var (
		ents  []entry
		total int64
		hdr   [110]byte
		links = map[uint64][]int{} // inode -> indexes of entries waiting for data
	)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("reading the overlay: header: %w", noEOF(err))
		}
		if m := string(hdr[:6]); m != "070701" && m != "070702" {
			return nil, fmt.Errorf("reading the overlay: not a cpio newc archive (magic %q)", m)
		}
		var f [13]uint64
		for i := range f {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("reading the overlay: bad header field %q", hdr[6+8*i:14+8*i])
			}
			f[i] = v
		}
		ino, mode, uid, gid, nlink, mtime, size, nameSize := f[0], uint32(f[1]), f[2], f[3], f[4], f[5], f[6], f[11]
		if nameSize == 0 || nameSize > maxName {
			return nil, fmt.Errorf("reading the overlay: name of %d bytes", nameSize)
		}
		total += 110 + int64(nameSize) + int64(size)
		if total > maxArchive {
			return nil, fmt.Errorf("reading the overlay: more than %d MiB", maxArchive>>20)
		}
		name := make([]byte, nameSize)
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, fmt.Errorf("reading the overlay: name: %w", noEOF(err))
		}
		if name[len(name)-1] != 0 {
			return nil, errors.New("reading the overlay: name not NUL-terminated")
		}
		name = name[:len(name)-1]
		if err := skip(br, pad4(110+nameSize)); err != nil {
			return nil, err
		}
		if string(name) == "TRAILER!!!" {
			break
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("reading the overlay: %s: %w", name, noEOF(err))
		}
		if err := skip(br, pad4(size)); err != nil {
			return nil, err
		}
		if len(ents) >= maxEntries {
			return nil, fmt.Errorf("reading the overlay: more than %d entries", maxEntries)
		}
		e := entry{name: string(name), mode: mode, uid: int(uid), gid: int(gid), mtime: int64(mtime)}
		switch mode & typeMask {
		case typeSymlink:
			e.link = string(data)
		case typeReg:
			e.data = data
			if nlink > 1 {
				if size == 0 {
					links[ino] = append(links[ino], len(ents))
				} else {
					for _, i := range links[ino] {
						ents[i].data = data
					}
					delete(links, ino)
				}
			}
		default:
			if size > 0 {
				e.data = data // refused by checkEntries unless a directory
			}
		}
		ents = append(ents, e)
	}
	return ents, nil
}

// checkEntries refuses an overlay the agent must not apply (see
// readOverlay) and returns the entries to apply (without the root itself
// and the agent's state directory), sorted by name.
func checkEntries(ents []entry) ([]entry, error) {
	kept := ents[:0]
	for _, e := range ents {
		n, err := cleanName(e.name)
		if err != nil {
			return nil, err
		}
		if n == "" {
			continue // "." : the root itself is never changed
		}
		switch e.mode & typeMask {
		case typeReg, typeDir, typeSymlink:
		default:
			return nil, &refusal{e.name, fmt.Sprintf("is a device node, FIFO or socket (mode %o)", e.mode)}
		}
		if e.isLink() && (e.link == "" || strings.IndexByte(e.link, 0) >= 0) {
			return nil, &refusal{e.name, "is a symlink with an empty or malformed target"}
		}
		if e.isDir() && len(e.data) > 0 {
			return nil, &refusal{e.name, "is a directory with content"}
		}
		switch {
		case n == stateDir && e.isDir():
			continue // the agent makes it (0700) for its manifest
		case n == overlaysName && e.mode&typeMask == typeReg:
			// the server's list of post_apply commands: installed like
			// any file, read by the agent after the apply
		case n == stateDir || strings.HasPrefix(n, stateDir+"/"):
			return nil, &refusal{e.name, "is in the agent's own state directory /" + stateDir}
		}
		e.name = n
		kept = append(kept, e)
	}
	ents = kept
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	kind := make(map[string]uint32, len(ents))
	for i, e := range ents {
		if i > 0 && ents[i-1].name == e.name {
			return nil, &refusal{e.name, "appears twice"}
		}
		kind[e.name] = e.mode & typeMask
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			if t, ok := kind[p]; ok && t != typeDir {
				return nil, &refusal{e.name, "lies below " + p + ", which the overlay makes a symlink or file"}
			}
		}
	}
	return ents, nil
}

// cleanName turns an archive name into a clean relative path ("" for the
// root); absolute names, ".." and NUL are refused.
func cleanName(name string) (string, error) {
	switch {
	case strings.IndexByte(name, 0) >= 0:
		return "", &refusal{name, "holds a NUL byte"}
	case strings.HasPrefix(name, "/"):
		return "", &refusal{name, "is an absolute path"}
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", &refusal{name, `holds ".."`}
		}
	}
	p := path.Clean(name)
	if p == "." {
		return "", nil
	}
	return p, nil
}

func pad4(n uint64) uint64 { return (4 - n%4) % 4 }

func skip(r io.Reader, n uint64) error {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:n]); err != nil {
		return fmt.Errorf("reading the overlay: padding: %w", noEOF(err))
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
