package artifact

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
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

// decompress returns a reader of r's contents, gunzipping when r starts
// with the gzip magic.
func decompress(r *bufio.Reader) (io.Reader, func(), error) {
	magic, err := r.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case len(magic) >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		return nil, nil, errors.New("zstd-compressed archives are not supported")
	}
	return r, func() {}, nil
}

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
		name, err := cleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		ino := &inode{
			mode:  uint32(hdr.Mode) & permMask,
			uid:   hdr.Uid,
			gid:   hdr.Gid,
			mtime: hdr.ModTime.Unix(),
		}
		e := tarEntry{name: name, ino: ino}
		switch hdr.Typeflag {
		case tar.TypeGNUSparse:
			return nil, fmt.Errorf("%s: sparse files are not supported", name)
		case tar.TypeReg, 0: // 0 is the old regular-file flag
			if isPAXSparse(hdr) {
				return nil, fmt.Errorf("%s: sparse files are not supported", name)
			}
			ino.mode |= typeReg
			if hdr.Size < 0 || hdr.Size > maxFileSize {
				return nil, fmt.Errorf("%s: size %d out of range", name, hdr.Size)
			}
			n, err := io.Copy(sp.f, tr)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			if n != hdr.Size {
				return nil, fmt.Errorf("reading %s: %d of %d bytes", name, n, hdr.Size)
			}
			ino.size = n
			ino.data = spoolContent{f: sp.f, off: sp.off, n: n}
			sp.off += n
		case tar.TypeDir:
			ino.mode |= typeDir
		case tar.TypeSymlink:
			if hdr.Linkname == "" || len(hdr.Linkname) > maxPathLen || strings.IndexByte(hdr.Linkname, 0) >= 0 {
				return nil, fmt.Errorf("%s: bad symlink target", name)
			}
			ino.mode |= typeSymlink
			ino.link = hdr.Linkname
		case tar.TypeLink:
			target, err := cleanName(hdr.Linkname)
			if err != nil || target == "" {
				return nil, fmt.Errorf("%s: bad hard link target %q", name, hdr.Linkname)
			}
			e.hard = target
		case tar.TypeChar, tar.TypeBlock:
			if hdr.Typeflag == tar.TypeChar {
				ino.mode |= typeChar
			} else {
				ino.mode |= typeBlock
			}
			if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > 0xffffffff || hdr.Devminor > 0xffffffff {
				return nil, fmt.Errorf("%s: bad device number", name)
			}
			ino.rdevMajor, ino.rdevMinor = uint32(hdr.Devmajor), uint32(hdr.Devminor)
		case tar.TypeFifo:
			ino.mode |= typeFifo
		case tar.TypeXGlobalHeader:
			continue
		default:
			return nil, fmt.Errorf("%s: unsupported tar entry type %q", name, hdr.Typeflag)
		}
		out = append(out, e)
	}
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

// applyEntries adds entries to t in archive order.
func applyEntries(t *tree, entries []tarEntry) error {
	for _, e := range entries {
		if e.name == "" && e.hard == "" {
			if e.ino.mode&typeMask == typeDir {
				continue // "./": the root's own metadata is not shipped
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
			continue
		}
		if err := t.put(e.name, e.ino); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return nil
}

// applyLayer applies one OCI layer: first its whiteouts (".wh.NAME" removes
// NAME, ".wh..wh..opq" hides everything the lower layers put in that
// directory), then its other entries. Whiteouts only act on lower layers.
func applyLayer(t *tree, entries []tarEntry) error {
	rest := entries[:0:0]
	for _, e := range entries {
		base := path.Base(e.name)
		if !strings.HasPrefix(base, ".wh.") {
			rest = append(rest, e)
			continue
		}
		dir := parentOf(e.name)
		if base == ".wh..wh..opq" {
			if n, ok := t.lookup(dir); ok && n.children != nil {
				clear(n.children)
			}
			continue
		}
		target := strings.TrimPrefix(base, ".wh.")
		if target == "" || target == "." || target == ".." {
			return fmt.Errorf("%s: bad whiteout", e.name)
		}
		if dir != "" {
			target = dir + "/" + target
		}
		t.remove(target)
	}
	return applyEntries(t, rest)
}
