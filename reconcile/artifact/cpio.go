package artifact

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cavaliergopher/cpio"
)

// writeCPIO writes t as a cpio newc archive: entries in tree order, inode
// numbers assigned in that order (so the same tree gives the same bytes),
// hard links sharing one inode with the data on the group's last entry (as
// GNU cpio writes them; the kernel and cpio -i both accept it). progress,
// when not nil, is told how many content bytes were copied.
//
// Entries go through cavaliergopher/cpio except device nodes: its header
// writer has no rdev fields, so a device node's header is written here after
// the library has flushed its padding (the stream is then 4-byte aligned and
// the library holds no pending state).
func writeCPIO(w io.Writer, t *tree, progress func(int64)) error {
	ents, links, err := cpioEntries(t)
	if err != nil {
		return err
	}
	numbers := make(map[*inode]int64, len(ents))
	seen := map[*inode]int{}
	cw := cpio.NewWriter(w)
	var buf []byte // allocated on the first file with content
	for _, e := range ents {
		ino := e.ino
		num, ok := numbers[ino]
		if !ok {
			num = int64(len(numbers) + 1)
			numbers[ino] = num
		}
		hdr := &cpio.Header{
			Name:    e.name,
			Mode:    cpio.FileMode(ino.mode),
			Uid:     clampID(ino.uid),
			Guid:    clampID(ino.gid),
			Links:   1,
			ModTime: time.Unix(clampTime(ino.mtime), 0),
			Inode:   num,
		}
		switch ino.mode & typeMask {
		case typeDir:
			hdr.Links = 2
		case typeReg:
			hdr.Links = links[ino]
			seen[ino]++
			if seen[ino] == links[ino] {
				hdr.Size = ino.size
			}
		case typeSymlink:
			hdr.Size = int64(len(ino.link))
		case typeChar, typeBlock:
			if err := cw.Flush(); err != nil {
				return err
			}
			if err := writeDeviceHeader(w, hdr, ino); err != nil {
				return err
			}
			continue
		}
		if hdr.Size > maxFileSize {
			return fmt.Errorf("%s: %d bytes is too large for cpio newc", e.name, hdr.Size)
		}
		if err := cw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s: %w", e.name, err)
		}
		if err := writeCPIOData(cw, e, hdr.Size, &buf, progress); err != nil {
			return err
		}
	}
	return cw.Close()
}

// cpioEnt is one archive entry: a path of the tree and its inode.
type cpioEnt struct {
	name string
	ino  *inode
}

// cpioEntries lists t's entries (those not skipped) in tree order, and how
// many of them share each regular file's inode (its hard link count).
func cpioEntries(t *tree) ([]cpioEnt, map[*inode]int, error) {
	var ents []cpioEnt
	links := map[*inode]int{}
	if err := t.walk(func(p string, ino *inode) error {
		if ino.skip {
			return nil
		}
		ents = append(ents, cpioEnt{p, ino})
		if ino.mode&typeMask == typeReg {
			links[ino]++
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return ents, links, nil
}

// writeCPIOData writes the data of entry e after its header: a symlink's
// target, or size bytes of a file's content (none for the hard links
// before the group's last). *buf is the copy buffer, allocated on the
// first file that needs one.
func writeCPIOData(cw *cpio.Writer, e cpioEnt, size int64, buf *[]byte, progress func(int64)) error {
	ino := e.ino
	switch {
	case ino.mode&typeMask == typeSymlink:
		if _, err := io.WriteString(cw, ino.link); err != nil {
			return fmt.Errorf("writing %s: %w", e.name, err)
		}
	case size > 0:
		if b, ok := ino.data.(bytesContent); ok && int64(len(b)) == size {
			if _, err := cw.Write(b); err != nil {
				return fmt.Errorf("writing %s: %w", e.name, err)
			}
			return nil
		}
		if *buf == nil {
			*buf = make([]byte, 256<<10)
		}
		return copyContent(cw, e.name, ino, *buf, progress)
	}
	return nil
}

// copyContent copies exactly ino.size bytes of ino's data to w.
func copyContent(w io.Writer, name string, ino *inode, buf []byte, progress func(int64)) error {
	if ino.data == nil {
		return fmt.Errorf("%s: no content", name)
	}
	r, err := ino.data.open()
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer r.Close()
	var done int64
	for done < ino.size {
		want := min(int64(len(buf)), ino.size-done)
		n, err := io.ReadFull(r, buf[:want])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("writing %s: %w", name, werr)
			}
			done += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return fmt.Errorf("reading %s: file shrank to %d of %d bytes while building", name, done, ino.size)
			}
			return fmt.Errorf("reading %s: %w", name, err)
		}
	}
	return nil
}

// writeDeviceHeader writes a newc header with rdev major/minor and no data.
func writeDeviceHeader(w io.Writer, hdr *cpio.Header, ino *inode) error {
	b := make([]byte, 0, 110+len(hdr.Name)+4)
	b = append(b, "070701"...)
	for _, v := range []int64{hdr.Inode, int64(hdr.Mode), int64(hdr.Uid), int64(hdr.Guid), int64(hdr.Links),
		hdr.ModTime.Unix(), 0, 0, 0, int64(ino.rdevMajor), int64(ino.rdevMinor), int64(len(hdr.Name) + 1), 0} {
		b = appendHex8(b, v)
	}
	b = append(b, hdr.Name...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", hdr.Name, err)
	}
	return nil
}

func appendHex8(b []byte, v int64) []byte {
	s := strconv.FormatUint(uint64(v)&0xffffffff, 16)
	for i := len(s); i < 8; i++ {
		b = append(b, '0')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// clampID keeps uid/gid inside the 32 bits a newc header holds.
func clampID(id int) int {
	if id < 0 || id > 0xffffffff {
		return 0
	}
	return id
}

// clampTime keeps mtime inside the header's unsigned 32 bits.
func clampTime(t int64) int64 {
	if t < 0 {
		return 0
	}
	if t > 0xffffffff {
		return 0xffffffff
	}
	return t
}
