package artifact

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// scanDir reads a directory tree on the server's disk into a tree. It never
// follows symlinks below root. It also returns a stat key: a hash of every
// entry's metadata (name, type, mode, owner, size, times, inode), which
// changes whenever a file in the tree changes, without reading any file.
func scanDir(root string) (*tree, string, error) {
	// The source itself may be a symlink to the tree (images/current ->
	// images/v2); links below it are never followed.
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, "", err
	}
	t := newTree()
	h := sha256.New()
	hard := map[[2]uint64]*inode{}
	var total int64
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		rel = filepath.ToSlash(rel)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return fmt.Errorf("reading %s: %w", rel, err)
		}
		if rel == "" {
			return nil // the root directory's own metadata is not shipped
		}
		if len(rel) > maxPathLen {
			return fmt.Errorf("%s: name longer than %d bytes", rel, maxPathLen)
		}
		statKey(h, rel, &st)
		ino := &inode{
			mode:  st.Mode,
			uid:   int(st.Uid),
			gid:   int(st.Gid),
			mtime: st.Mtim.Sec,
		}
		switch st.Mode & typeMask {
		case typeReg:
			if st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := hard[key]; ok {
					return t.put(rel, first)
				}
				hard[key] = ino
			}
			ino.size = st.Size
			ino.data = diskContent(p)
			total += st.Size
		case typeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading %s: %w", rel, err)
			}
			if len(target) > maxPathLen {
				return fmt.Errorf("%s: symlink target longer than %d bytes", rel, maxPathLen)
			}
			ino.link = target
		case typeChar, typeBlock:
			ino.rdevMajor, ino.rdevMinor = devMajor(st.Rdev), devMinor(st.Rdev)
		}
		return t.put(rel, ino)
	})
	if err != nil {
		return nil, "", err
	}
	return t, fmt.Sprintf("%x", h.Sum(nil)), nil
}

func statKey(h hash.Hash, rel string, st *syscall.Stat_t) {
	var b [8 * 11]byte
	for i, v := range []uint64{uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size),
		uint64(st.Mtim.Sec), uint64(st.Mtim.Nsec), uint64(st.Ctim.Sec), uint64(st.Ctim.Nsec),
		st.Ino, st.Dev, st.Rdev} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	h.Write([]byte(rel))
	h.Write([]byte{0})
	h.Write(b[:])
}

// devMajor and devMinor split a Linux dev_t.
func devMajor(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff)
}

func devMinor(dev uint64) uint32 {
	return uint32(dev&0xff) | uint32((dev>>12)&^0xff)
}
