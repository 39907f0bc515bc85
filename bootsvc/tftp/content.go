package tftp

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// maxCached is the largest boot file kept in memory (the iPXE binaries are
// 70 kB to 1 MB); a larger one is read from its file block by block.
const maxCached = 8 << 20

// contents keeps the bytes of the boot files a tree serves, so that a
// transfer reads its file once (when it changed) instead of once a block:
// in a boot storm, thousands of transfers send the same 74 kB. One entry a
// resolved path; a tree serves a handful of files.
type contents struct {
	mu sync.Mutex
	m  map[string]*content
}

// content is a file's bytes and the identity they were read under.
type content struct {
	id   fileID
	data []byte
}

// fileID tells a file's versions apart: a file rewritten in place or
// replaced by a rename has another size, modification or change time, or
// inode.
type fileID struct {
	ino, size    int64
	mtime, ctime time.Time
}

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{ino: int64(st.Ino), size: fi.Size(), mtime: fi.ModTime(),
		ctime: time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))}, true
}

// bytes returns the bytes of the open file f (at path), read now unless
// the same version was read before; ok is false when f is too large or
// cannot be told apart from its next version (the transfer reads f).
func (c *contents) bytes(path string, f *os.File) (data []byte, ok bool) {
	fi, err := f.Stat()
	if err != nil || fi.Size() > maxCached {
		return nil, false
	}
	id, ok := idOf(fi)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	e := c.m[path]
	c.mu.Unlock()
	if e != nil && e.id == id {
		return e.data, true
	}
	data, err = io.ReadAll(io.LimitReader(f, maxCached+1))
	if err != nil {
		// The transfer reads the file itself, and meets the error.
		return nil, false
	}
	if int64(len(data)) != id.size {
		// Changed while read: this transfer sends what it read (as it
		// would reading block by block), the next reads it again.
		return data, true
	}
	c.mu.Lock()
	c.m[path] = &content{id: id, data: data}
	c.mu.Unlock()
	return data, true
}

// errNetasciiTooLarge refuses a netascii transfer of a file too large to
// convert in memory (boot binaries are sent in octet mode).
var errNetasciiTooLarge = errors.New("netascii mode is not served for files over 8 MiB: ask in octet mode")

// source is what a transfer of the open file f sends: its bytes from
// memory when they fit, converted for netascii mode, or f itself.
func (t *tree) source(f *os.File, netascii bool) (source, error) {
	data, ok := t.files.bytes(f.Name(), f)
	if !ok && netascii {
		return source{}, errNetasciiTooLarge
	}
	if !ok {
		fi, err := f.Stat()
		if err != nil {
			return source{}, errUnreadable
		}
		return source{f: f, size: fi.Size()}, nil
	}
	if netascii {
		data = toNetascii(data)
	}
	return source{data: data, size: int64(len(data))}, nil
}
