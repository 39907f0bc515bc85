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
// entry's metadata (name, type, mode, owner, size, modification time; see
// statKey), which changes whenever a file in the tree changes, without
// reading any file.
func scanDir(root string) (*tree, string, error) {
	// The source itself may be a symlink to the tree (images/current ->
	// images/v2); links below it are never followed.
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, "", err
	}
	t := newTree()
	h := sha256.New()
	hard := map[[2]uint64]hardLink{} // device and inode -> the first name seen
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
		ino := &inode{
			mode:  st.Mode,
			uid:   int(st.Uid),
			gid:   int(st.Gid),
			mtime: st.Mtim.Sec,
		}
		statKey(h, rel, &st, "")
		switch st.Mode & typeMask {
		case typeReg:
			if st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := hard[key]; ok {
					// A hard link: its identity is the first name's.
					statKey(h, rel, &st, first.name)
					return t.put(rel, first.ino)
				}
				hard[key] = hardLink{ino, rel}
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

// hardLink is the first name of a file with several links.
type hardLink struct {
	ino  *inode
	name string
}

// statKey adds one entry's identity to h: its name, type and mode, owner,
// size, modification time and device numbers, and for a second link of a
// file the first one's name. Not the device, inode number or ctime: a copy
// of the tree (cp -a, rsync -a), a move of the state or a remount keeps
// its identity, and only a change of what is shipped changes it.
func statKey(h hash.Hash, rel string, st *syscall.Stat_t, linkOf string) {
	var b [8 * 7]byte
	for i, v := range []uint64{uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size),
		uint64(st.Mtim.Sec), uint64(st.Mtim.Nsec), st.Rdev} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
	h.Write([]byte(rel))
	h.Write([]byte{0})
	h.Write(b[:])
	h.Write([]byte(linkOf))
	h.Write([]byte{0})
}

// devMajor and devMinor split a Linux dev_t.
func devMajor(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff)
}

func devMinor(dev uint64) uint32 {
	return uint32(dev&0xff) | uint32((dev>>12)&^0xff)
}
