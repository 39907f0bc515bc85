package artifact

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// tarEntry is one archive member, its data already copied to the spool.
type tarEntry struct {
	name string // cleaned
	ino  *inode
	hard string // hard link target (cleaned), for tar.TypeLink
}

// spool holds extracted archive data in one temporary file so the tree can
// be written in sorted order after all layers are read.
type spool struct {
	f   *os.File
	off int64
}

// decompress returns a reader of r's contents, decompressing when r
// starts with the gzip or zstd magic.
func decompress(r *bufio.Reader) (io.Reader, func(), error) { return openArtifact(r) }

// readTar reads a tar stream (gzip-compressed or not) into entries, copying
// file data into sp.
func readTar(r io.Reader, sp *spool) ([]tarEntry, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	dr, done, err := decompress(br)
	if err != nil {
		return nil, err
	}
	defer done()
	tr := tar.NewReader(dr)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		if len(out) >= maxEntries {
			return nil, fmt.Errorf("more than %d entries", maxEntries)
		}
		e, keep, err := readTarMember(tr, hdr, sp)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, e)
		}
	}
}

// readTarMember turns the member hdr into an entry, copying a regular file's
// data from tr into sp. keep is false for members that are no file (PAX
// global headers).
func readTarMember(tr *tar.Reader, hdr *tar.Header, sp *spool) (e tarEntry, keep bool, err error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return e, false, err
	}
	ino := &inode{
		mode:  uint32(hdr.Mode) & permMask,
		uid:   hdr.Uid,
		gid:   hdr.Gid,
		mtime: hdr.ModTime.Unix(),
	}
	e = tarEntry{name: name, ino: ino}
	switch hdr.Typeflag {
	case tar.TypeGNUSparse:
		return e, false, fmt.Errorf("%s: sparse files are not supported", name)
	case tar.TypeReg, 0: // 0 is the old regular-file flag
		if isPAXSparse(hdr) {
			return e, false, fmt.Errorf("%s: sparse files are not supported", name)
		}
		ino.mode |= typeReg
		if err := sp.copyFile(tr, name, hdr.Size, ino); err != nil {
			return e, false, err
		}
	case tar.TypeDir:
		ino.mode |= typeDir
	case tar.TypeSymlink:
		if hdr.Linkname == "" || len(hdr.Linkname) > maxPathLen || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return e, false, fmt.Errorf("%s: bad symlink target", name)
		}
		ino.mode |= typeSymlink
		ino.link = hdr.Linkname
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil || target == "" {
			return e, false, fmt.Errorf("%s: bad hard link target %q", name, hdr.Linkname)
		}
		e.hard = target
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Typeflag == tar.TypeChar {
			ino.mode |= typeChar
		} else {
			ino.mode |= typeBlock
		}
		if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > 0xffffffff || hdr.Devminor > 0xffffffff {
			return e, false, fmt.Errorf("%s: bad device number", name)
		}
		ino.rdevMajor, ino.rdevMinor = uint32(hdr.Devmajor), uint32(hdr.Devminor)
	case tar.TypeFifo:
		ino.mode |= typeFifo
	case tar.TypeXGlobalHeader:
		return e, false, nil
	default:
		return e, false, fmt.Errorf("%s: unsupported tar entry type %q", name, hdr.Typeflag)
	}
	return e, true, nil
}

// copyFile appends size bytes of file name's data from r to the spool and
// makes ino's content that part of it.
func (sp *spool) copyFile(r io.Reader, name string, size int64, ino *inode) error {
	if size < 0 || size > maxFileSize {
		return fmt.Errorf("%s: size %d out of range", name, size)
	}
	n, err := io.Copy(sp.f, r)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("reading %s: %d of %d bytes", name, n, size)
	}
	ino.size = n
	ino.data = spoolContent{f: sp.f, off: sp.off, n: n}
	sp.off += n
	return nil
}

// isPAXSparse reports a PAX-format sparse file, whose few bytes in the
// archive may stand for gigabytes of holes.
func isPAXSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// applyEntries adds entries to t in archive order, hard links last (a
// flattened image lists an upper layer's link before the lower layer's
// file it names).
func applyEntries(t *tree, entries []tarEntry) error {
	var links []tarEntry
	for _, e := range entries {
		if e.hard != "" {
			if _, ok := t.lookup(e.hard); !ok {
				links = append(links, e)
				continue
			}
		}
		if err := applyEntry(t, e); err != nil {
			return err
		}
	}
	for _, e := range links {
		if err := applyEntry(t, e); err != nil {
			return err
		}
	}
	return nil
}

func applyEntry(t *tree, e tarEntry) error {
	{
		if e.name == "" && e.hard == "" {
			if e.ino.mode&typeMask == typeDir {
				return nil // "./": the root's own metadata is not shipped
			}
			return fmt.Errorf("%w: non-directory entry for the root", errUnsafePath)
		}
		if e.hard != "" {
			n, ok := t.lookup(e.hard)
			if !ok || n.ino.mode&typeMask != typeReg {
				return fmt.Errorf("%s: hard link to %s, which is not a regular file in the archive", e.name, e.hard)
			}
			if err := t.put(e.name, n.ino); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			return nil
		}
		if err := t.put(e.name, e.ino); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return nil
}
