package tftp

import (
	"bytes"
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

// reader returns what a transfer of the open file f (at path) reads: its
// bytes in memory, read now unless the same version was read before, or f
// itself when it is too large or cannot be told apart from its next
// version.
func (c *contents) reader(path string, f *os.File) io.ReadSeeker {
	fi, err := f.Stat()
	if err != nil || fi.Size() > maxCached {
		return f
	}
	id, ok := idOf(fi)
	if !ok {
		return f
	}
	c.mu.Lock()
	e := c.m[path]
	c.mu.Unlock()
	if e != nil && e.id == id {
		return bytes.NewReader(e.data)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCached+1))
	if err != nil {
		// The transfer reads the file itself, and meets the error.
		f.Seek(0, io.SeekStart)
		return f
	}
	if int64(len(data)) != id.size {
		// Changed while read: this transfer sends what it read (as it
		// would reading block by block), the next reads it again.
		return bytes.NewReader(data)
	}
	c.mu.Lock()
	c.m[path] = &content{id: id, data: data}
	c.mu.Unlock()
	return bytes.NewReader(data)
}
