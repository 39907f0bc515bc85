// Package atomicfile replaces files so that a reader, or the file system
// after a crash, sees either the old content or the new, never a mix or an
// empty file: write a temporary file in the same directory, fsync it,
// rename it over the target, fsync the directory.
//
// Imported by the packages that keep state on disk: reconcile/artifact
// (manifests, the applied state), bootsvc/status (the status file) and
// bootsvc/dhcp (the lease file); and by cmd/gitboot for the files it
// writes for a user (fmt's rewritten files, saved plans, git hooks).
package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file this package creates
// (".tmp-<target name>.<random>"), so a directory's owner can remove what a
// killed process left behind.
const TempPrefix = ".tmp-"

// WriteFile replaces path with data, like os.WriteFile but atomically and
// durably. The file gets exactly perm (the umask does not apply). On error
// path is unchanged and no temporary file is left.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write is WriteFile for content produced by fill, which writes it to w
// (a buffered copy is not needed: w is the temporary file). An error from
// fill is returned as is, and path is left unchanged.
func Write(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+base+".*")
	if err != nil {
		return pathErr("create", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return pathErr("chmod", path, err)
	}
	if err := f.Sync(); err != nil {
		return pathErr("sync", path, err)
	}
	if err := f.Close(); err != nil {
		return pathErr("close", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return pathErr("rename", path, err)
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making the renames and removals in it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return pathErr("sync", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return pathErr("sync", dir, err)
	}
	return nil
}

// pathErr names the target, not the temporary file, in an error.
func pathErr(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
