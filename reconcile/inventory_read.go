package reconcile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// RunningRead is the running inventory a plan read from a state
// directory (ReadRunning), with the digest of its encoding. An apply in
// the plan's process takes it again instead of reading and hashing the
// files a second time, but only while inventory.json is still the very
// file the plan read (Current): every write of it is a rename of a new
// file, so an apply in between shows as another inode.
type RunningRead struct {
	Inv    *Inventory
	Digest string
	dir    string    // the state directory read ("": not read from one)
	stamp  fileStamp // inventory.json as opened
}

// fileStamp identifies one version of a file on this machine.
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// stampOf returns fi's stamp; false when the system does not say.
func stampOf(fi fs.FileInfo) (fileStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}, false
	}
	return fileStamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, true
}

// ReadRunning is ReadInventoryDigest, remembering which inventory.json
// it read. nil when nothing was applied yet.
func ReadRunning(stateDir string) (*RunningRead, error) {
	runningReads.Add(1)
	f, err := os.Open(filepath.Join(stateDir, InventoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	defer f.Close()
	rr := &RunningRead{}
	if fi, err := f.Stat(); err == nil {
		if s, ok := stampOf(fi); ok {
			rr.dir, rr.stamp = stateDir, s
		}
	}
	if rr.Inv, rr.Digest, err = readInventoryDigest(stateDir, f); err != nil {
		return nil, err
	}
	return rr, nil
}

// Current reports whether stateDir's inventory.json is still the file
// rr was read from (false for nil, or one not read from stateDir).
func (rr *RunningRead) Current(stateDir string) bool {
	if rr == nil || rr.Inv == nil || rr.dir == "" || rr.dir != stateDir {
		return false
	}
	fi, err := os.Stat(filepath.Join(stateDir, InventoryFile))
	if err != nil {
		return false
	}
	s, ok := stampOf(fi)
	return ok && s == rr.stamp
}

// runningReads counts ReadRunning's reads of a state directory (tests:
// an apply that takes its plan's read reads nothing).
var runningReads atomic.Int64
