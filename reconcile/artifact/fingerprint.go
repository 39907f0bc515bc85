package artifact

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SourceFingerprint identifies the current state of an image source from
// stat data alone, reading no file's content: for an archive its size,
// mode and modification time; for a directory (or an OCI layout) the same
// of every entry under it, with each symbolic link's target. Device, inode
// and change time are left out, so moving the state or a remount does not
// change it. Equal fingerprints mean the source was not written (as far
// as modification times tell); the reconciler uses them to skip
// evaluating an unchanged commit again (an idle poll).
func SourceFingerprint(source string) (string, error) {
	st, err := os.Stat(source)
	if err != nil {
		return "", fmt.Errorf("image source: %w", err)
	}
	h := sha256.New()
	var b [8 * 3]byte
	put := func(name string, fi fs.FileInfo) {
		binary.LittleEndian.PutUint64(b[0:], uint64(fi.Mode()))
		binary.LittleEndian.PutUint64(b[8:], uint64(fi.Size()))
		binary.LittleEndian.PutUint64(b[16:], uint64(fi.ModTime().UnixNano()))
		h.Write([]byte(name + "\x00"))
		h.Write(b[:])
	}
	put(".", st)
	if st.IsDir() {
		err = filepath.WalkDir(source, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(source, p)
			put(rel, fi)
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				h.Write([]byte(target + "\x00"))
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("image source %s: %w", source, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
