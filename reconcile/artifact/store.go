package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// File name extensions in the store.
const (
	extImage  = ".img.gz"             // cpio newc + gzip: images and overlays
	extKernel = ".vmlinuz"            // a kernel, as found in the image
	tmpPrefix = atomicfile.TempPrefix // temporaries; removed when a Builder starts
)

// store is the content-addressed file store under <state>/artifacts:
// sha256/<hex><ext> for artifacts and manifests/<hex>.json for manifests.
// A file appears under its final name only complete and synced to disk.
type store struct {
	dir       string // <state>/artifacts
	objs      string // dir/sha256
	manifests string // dir/manifests

	log *slog.Logger

	mu       sync.Mutex
	have     map[string]bool  // file names present in objs
	verified map[string]stamp // file names whose content was found to match their name, and when (VerifiedFile)
	dropped  uint64           // damaged artifacts removed (drop), for Builder.Dropped
	onUse    *onUse           // with Config.CheckOnUse: artifacts are checked when first reused
}

// openStore creates the directories, removes temporaries a killed build
// left behind, and lists what is there.
func openStore(dir string) (*store, int, error) {
	dir = filepath.Clean(dir)
	s := &store{dir: dir, objs: filepath.Join(dir, "sha256"), manifests: filepath.Join(dir, "manifests"), have: map[string]bool{}, verified: map[string]stamp{}, log: slog.New(slog.DiscardHandler)}
	removed := 0
	for _, d := range []string{s.dir, s.objs, s.manifests} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, 0, fmt.Errorf("creating store: %w", err)
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, 0, fmt.Errorf("reading store: %w", err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				if err := os.Remove(filepath.Join(d, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, 0, fmt.Errorf("removing leftover %s: %w", e.Name(), err)
				}
				removed++
				continue
			}
			if d == s.objs {
				s.have[e.Name()] = true
			}
		}
	}
	return s, removed, nil
}

func (s *store) path(name string) string { return s.objs + "/" + name }

func (s *store) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.have[name]
}

// temp is an artifact being written: a temporary file in the objects
// directory and the running digest of what was written.
type temp struct {
	f *os.File
	h hash.Hash
	n int64
}

func (s *store) create() (*temp, error) {
	f, err := os.CreateTemp(s.objs, tmpPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("creating artifact: %w", err)
	}
	return &temp{f: f, h: sha256.New()}, nil
}

func (t *temp) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.h.Write(p[:n])
	t.n += int64(n)
	return n, err
}

// abort removes an unfinished temp.
func (t *temp) abort() {
	t.f.Close()
	os.Remove(t.f.Name())
}

// commit syncs and closes t and renames it to its content's name. If that
// name exists already and was not written to since it was verified, t is
// dropped: the content is the same. One written to since is replaced by t.
func (s *store) commit(t *temp, ext string) (ref, error) {
	r := ref{Hex: hex.EncodeToString(t.h.Sum(nil)), Size: t.n}
	if err := t.f.Sync(); err != nil {
		t.abort()
		return ref{}, fmt.Errorf("writing artifact: %w", err)
	}
	if err := t.f.Close(); err != nil {
		os.Remove(t.f.Name())
		return ref{}, fmt.Errorf("writing artifact: %w", err)
	}
	name := r.Hex + ext
	if s.usable(name) {
		os.Remove(t.f.Name())
		return r, nil
	}
	if s.has(name) {
		s.log.Error("ARTIFACT DAMAGED: written to since it was verified; replaced by the content just built", "file", s.path(name))
	}
	if err := os.Rename(t.f.Name(), s.path(name)); err != nil {
		os.Remove(t.f.Name())
		return ref{}, fmt.Errorf("storing artifact: %w", err)
	}
	if err := atomicfile.SyncDir(s.objs); err != nil {
		return ref{}, err
	}
	s.mu.Lock()
	s.have[name] = true
	s.markVerifiedLocked(name)
	s.mu.Unlock()
	return r, nil
}

// batch stores many small artifacts with one file system sync: each is
// written to a temp, then Finish syncs the file system once and renames
// them all. Safe for concurrent Put.
type batch struct {
	s       *store
	ext     string
	mu      sync.Mutex
	pending map[string]string // final name -> temp path
}

func (s *store) newBatch(ext string) *batch {
	return &batch{s: s, ext: ext, pending: map[string]string{}}
}

// Put stores data (already complete) and returns its ref.
func (b *batch) Put(data []byte) (ref, error) {
	sum := sha256.Sum256(data)
	return b.put(ref{Hex: hex.EncodeToString(sum[:]), Size: int64(len(data))}, data)
}

// PutAfter stores the shared segment's bytes followed by tail (a system
// overlay, see sharedSegment) and returns its ref. Only tail is hashed:
// the digest continues from the segment's.
func (b *batch) PutAfter(seg *sharedSegment, tail []byte) (ref, error) {
	sum, err := seg.sum(tail)
	if err != nil {
		return ref{}, err
	}
	return b.put(ref{Hex: hex.EncodeToString(sum[:]), Size: int64(len(seg.data) + len(tail))}, seg.data, tail)
}

// put stores the concatenation of parts, whose digest and size r is.
func (b *batch) put(r ref, parts ...[]byte) (ref, error) {
	name := r.Hex + b.ext
	b.mu.Lock()
	_, queued := b.pending[name]
	b.mu.Unlock()
	if queued || b.s.usable(name) {
		return r, nil
	}
	if b.s.has(name) {
		b.s.log.Error("ARTIFACT DAMAGED: written to since it was verified; replaced by the content just built", "file", b.s.path(name))
	}
	f, err := os.CreateTemp(b.s.objs, tmpPrefix+"*")
	if err != nil {
		return ref{}, fmt.Errorf("creating artifact: %w", err)
	}
	for _, p := range parts {
		if err == nil {
			_, err = f.Write(p)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return ref{}, fmt.Errorf("writing artifact: %w", err)
	}
	b.mu.Lock()
	if _, dup := b.pending[name]; dup {
		os.Remove(f.Name())
	} else {
		b.pending[name] = f.Name()
	}
	b.mu.Unlock()
	return r, nil
}

// Finish makes every Put durable and visible under its final name.
func (b *batch) Finish() error {
	if len(b.pending) == 0 {
		return nil
	}
	// A few files: fsync each. Many: one syncfs(2), which also flushes
	// other writers' data on the same file system but beats thousands of
	// fsyncs.
	if len(b.pending) <= 64 {
		for _, tmp := range b.pending {
			if err := syncFile(tmp); err != nil {
				b.Abort()
				return err
			}
		}
	} else if err := syncFS(b.s.objs); err != nil {
		b.Abort()
		return err
	}
	for name, tmp := range b.pending {
		if err := os.Rename(tmp, b.s.path(name)); err != nil {
			b.Abort()
			return fmt.Errorf("storing artifact: %w", err)
		}
		delete(b.pending, name)
		b.s.mu.Lock()
		b.s.have[name] = true
		b.s.markVerifiedLocked(name)
		b.s.mu.Unlock()
	}
	return atomicfile.SyncDir(b.s.objs)
}

// Abort removes the temps of a failed batch.
func (b *batch) Abort() {
	for name, tmp := range b.pending {
		os.Remove(tmp)
		delete(b.pending, name)
	}
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", p, err)
	}
	return nil
}

// syncFS flushes the whole file system holding dir (one syncfs(2) instead
// of an fsync per small file).
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// ref names an artifact in the store.
type ref struct {
	Hex  string `json:"sha256"`
	Size int64  `json:"size"`
}
