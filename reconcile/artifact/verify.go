package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/jsonstr"
	"golang.org/x/sys/unix"
)

// VerifiedFile lists, in the artifacts directory, each artifact whose
// content was last found to match its name, with the file's size,
// modification time and inode at that moment. A file whose stamp still
// matches needs no new sha256 at start; one whose stamp changed was
// written to since (overwritten in place) and is checked at once.
const VerifiedFile = "verified.json"

// stamp identifies one version of a file without reading it.
type stamp struct {
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ino   uint64 `json:"ino"`
}

type verifiedDoc struct {
	Version int              `json:"version"`
	Files   map[string]stamp `json:"files"`
}

func stampOf(info fs.FileInfo) stamp {
	st := stamp{Size: info.Size(), Mtime: info.ModTime().UnixNano()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.Ino = sys.Ino
	}
	return st
}

func statStamp(p string) (stamp, error) {
	info, err := os.Stat(p)
	if err != nil {
		return stamp{}, err
	}
	return stampOf(info), nil
}

// stamper returns a func that stamps a file of the store by name, as
// statStamp does its path, through one open descriptor of the store's
// directory (fstatat: no path walked and no FileInfo made per file, a
// third less time for the 10,000 files checked at every start); done
// closes it.
func (s *store) stamper() (stat func(name string) (stamp, error), done func()) {
	dir, err := os.Open(s.objs)
	if err != nil {
		return func(name string) (stamp, error) { return statStamp(s.path(name)) }, func() {}
	}
	fd := int(dir.Fd())
	return func(name string) (stamp, error) {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, 0); err != nil {
			return stamp{}, &fs.PathError{Op: "stat", Path: s.path(name), Err: err}
		}
		return stamp{Size: st.Size, Mtime: st.Mtim.Nano(), Ino: st.Ino}, nil
	}, func() { dir.Close() }
}

// parseName splits an artifact file name into its sha256 and extension;
// ok is false for anything else.
func parseName(name string) (hexSum, ext string, ok bool) {
	for _, ext := range []string{extImage, extKernel, extLayout} {
		if h, found := strings.CutSuffix(name, ext); found && len(h) == 64 {
			if _, err := hex.DecodeString(h); err == nil {
				return h, ext, true
			}
		}
	}
	return "", "", false
}

// hashFile returns the sha256 of a file's content, in hex.
func hashFile(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *store) verifiedPath() string { return filepath.Join(s.dir, VerifiedFile) }

// loadVerified reads the verified list; a missing or unreadable one is an
// empty list (it is a cache of checks: nothing is lost but time).
func (s *store) loadVerified() error {
	s.verified = map[string]stamp{}
	data, err := os.ReadFile(s.verifiedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var doc verifiedDoc
	if err == nil {
		err = json.Unmarshal(data, &doc)
	}
	if err != nil {
		os.Remove(s.verifiedPath())
		return fmt.Errorf("%s unreadable, every artifact is checked again: %w", s.verifiedPath(), err)
	}
	for name, st := range doc.Files {
		if s.have[name] {
			s.verified[name] = st
		}
	}
	return nil
}

// saveVerified writes the verified list.
func (s *store) saveVerified() error {
	s.mu.Lock()
	doc := verifiedDoc{Version: 1, Files: make(map[string]stamp, len(s.verified))}
	for name, st := range s.verified {
		if s.have[name] {
			doc.Files[name] = st
		}
	}
	s.mu.Unlock()
	return atomicfile.WriteFile(s.verifiedPath(), doc.encode(), 0o600)
}

// encode writes d as json.Marshal does, without reflection (10,000
// artifacts: rewritten at every apply).
func (d *verifiedDoc) encode() []byte {
	out := make([]byte, 0, 32+len(d.Files)*112)
	out = append(out, `{"version":`...)
	out = strconv.AppendInt(out, int64(d.Version), 10)
	out = append(out, `,"files":`...)
	if d.Files == nil {
		return append(out, "null}"...)
	}
	out = append(out, '{')
	for i, name := range slices.Sorted(maps.Keys(d.Files)) {
		st := d.Files[name]
		if i > 0 {
			out = append(out, ',')
		}
		out = jsonstr.Append(out, name)
		out = append(out, `:{"size":`...)
		out = strconv.AppendInt(out, st.Size, 10)
		out = append(out, `,"mtime_ns":`...)
		out = strconv.AppendInt(out, st.Mtime, 10)
		out = append(out, `,"ino":`...)
		out = strconv.AppendUint(out, st.Ino, 10)
		out = append(out, '}')
	}
	return append(out, "}}"...)
}

// markVerified records that name's file, as it is now, holds the content
// its name says (it was just written from content hashed while writing,
// or just checked). Called with s.mu held.
func (s *store) markVerifiedLocked(name string) {
	if st, err := statStamp(s.path(name)); err == nil {
		s.verified[name] = st
	}
}

// intact reports whether an existing artifact may be kept as it is: it was
// never verified (the background check at start covers it) or it was and
// has not been written to since. A file written to since its check (its
// stamp changed) is not: a build replaces it with the content just built.
func (s *store) intact(name string) bool {
	s.mu.Lock()
	st, ok := s.verified[name]
	s.mu.Unlock()
	if !ok {
		return true
	}
	now, err := statStamp(s.path(name))
	return err == nil && now == st
}

// usable reports whether an artifact exists and may be served as it is.
func (s *store) usable(name string) bool {
	if !s.has(name) {
		return false
	}
	if s.onUse != nil {
		return s.checkOnUse(name)
	}
	return s.intact(name)
}

// usableEach reports, for each of names, whether usable(name) holds ("":
// false), as calling usable on each in order does: the first check of
// each distinct name runs on up to workers goroutines (a one-node apply
// at 10,000 nodes checks 10,000 artifacts, one stat each), a name's
// repeats after it.
func (s *store) usableEach(names []string, workers int) []bool {
	out := make([]bool, len(names))
	var first, repeats []int
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		switch {
		case name == "":
		case seen[name]:
			repeats = append(repeats, i)
		default:
			seen[name] = true
			first = append(first, i)
		}
	}
	check := func(idx []int) {
		for _, i := range idx {
			out[i] = s.usable(names[i])
		}
	}
	const minPart = 512 // fewer: not worth a goroutine
	part := max(minPart, (len(first)+workers-1)/max(1, workers))
	var wg sync.WaitGroup
	for len(first) > part {
		idx := first[:part]
		wg.Go(func() { check(idx) })
		first = first[part:]
	}
	check(first)
	wg.Wait()
	check(repeats)
	return out
}

// drop removes a damaged artifact: from the disk and from what the store
// knows, so that the next build builds it again.
func (s *store) drop(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.have, name)
	delete(s.verified, name)
	s.dropped++
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Dropped counts the damaged artifacts this Builder removed: a change
// means what is served may need building again (the reconciler's idle
// passes check the served build when it changes).
func (b *Builder) Dropped() uint64 {
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	return b.store.dropped
}

// checkAtStart checks every artifact before anything is served: its size
// against what the kept manifests say (always), and its sha256 when it
// was verified before and written to since. Damaged files are logged,
// removed and so rebuilt by the next build. It returns the artifacts never
// verified, for VerifyBackground.
func (b *Builder) checkAtStart(sizes map[string]int64) []string {
	s := b.store
	if err := s.loadVerified(); err != nil {
		b.cfg.Logger.Warn("artifact verification list", "err", err)
	}
	names := make([]string, 0, len(s.have))
	for name := range s.have {
		names = append(names, name)
	}
	slices.Sort(names)
	stat, done := s.stamper()
	defer done()
	var unverified []string
	for _, name := range names {
		st, err := stat(name)
		if err != nil {
			continue
		}
		if _, never := b.checkFile(name, st, sizes); never {
			unverified = append(unverified, name)
		}
	}
	return unverified
}

// checkFile checks one artifact whose file has stamp st, as checkAtStart
// does: its size against sizes, and its sha256 when it was verified
// before and written to since (a match is recorded as verified). ok is
// false when it was found damaged (it is then removed); never is true
// when it was never verified (only its size was checked).
func (b *Builder) checkFile(name string, st stamp, sizes map[string]int64) (ok, never bool) {
	s := b.store
	hexSum, _, named := parseName(name)
	if !named {
		return true, false
	}
	if want, known := sizes[name]; known && st.Size != want {
		b.damaged(name, fmt.Sprintf("size %d, its manifest says %d", st.Size, want))
		return false, false
	}
	s.mu.Lock()
	rec, verified := s.verified[name]
	s.mu.Unlock()
	switch {
	case !verified:
		return true, true
	case rec != st:
		got, err := hashFile(context.Background(), s.path(name))
		if err != nil {
			b.cfg.Logger.Warn("checking artifact", "file", s.path(name), "err", err)
			return true, false // as at start: left for the build's own check (intact)
		}
		if got != hexSum {
			b.damaged(name, "written to since it was verified, and its content has sha256 "+got)
			return false, false
		}
		s.mu.Lock()
		s.verified[name] = st
		s.mu.Unlock()
	}
	return true, false
}

// onUse is the store's check of each artifact when a build first reuses
// it (Config.CheckOnUse), instead of checkAtStart's of every artifact.
type onUse struct {
	checked map[string]bool // under the store's mu
	stat    func(name string) (stamp, error)
	// closeDir closes the directory stat reads through; held so that the
	// descriptor is not finalized (closed) while stat still uses it.
	closeDir func()
	check    func(name string, st stamp) bool
}

// checkOnUse is usable's check with Config.CheckOnUse: the first use of
// an artifact checks it as checkAtStart would (so a file damaged is not
// reused, and one only touched is verified again and reused); later uses
// check that it was not written to since (intact).
func (s *store) checkOnUse(name string) bool {
	s.mu.Lock()
	first := !s.onUse.checked[name]
	s.onUse.checked[name] = true
	s.mu.Unlock()
	if !first {
		return s.intact(name)
	}
	st, err := s.onUse.stat(name)
	if err != nil {
		return false
	}
	return s.onUse.check(name, st)
}

// damaged logs and removes a damaged artifact.
func (b *Builder) damaged(name, why string) {
	b.cfg.Logger.Error("ARTIFACT DAMAGED: its content does not match its name; removed, the next build rebuilds it",
		"file", b.store.path(name), "why", why)
	if err := b.store.drop(name); err != nil {
		b.cfg.Logger.Error("removing a damaged artifact", "file", b.store.path(name), "err", err)
	}
}

// VerifyBackground checks the sha256 of every artifact New found never
// verified (a state directory written by an older gitboot, or a build
// killed before it recorded its checks), one at a time, until done or
// ctx ends. A damaged one is logged and removed, and onDamage is called
// once at the end (the server then rebuilds what it serves). What was
// checked is recorded, so the next start does not check it again.
func (b *Builder) VerifyBackground(ctx context.Context, onDamage func()) error {
	b.mu.Lock()
	names := b.unverified
	b.unverified = nil
	b.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	s := b.store
	found, checked := 0, 0
	for _, name := range names {
		hexSum, _, _ := parseName(name)
		before, err := statStamp(s.path(name))
		if err != nil {
			continue // removed by GC meanwhile
		}
		got, err := hashFile(ctx, s.path(name))
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			continue
		}
		checked++
		s.mu.Lock()
		after, err := statStamp(s.path(name))
		same := err == nil && after == before
		if same && got == hexSum {
			s.verified[name] = after
		}
		s.mu.Unlock()
		if same && got != hexSum {
			b.damaged(name, "its content has sha256 "+got)
			found++
		}
	}
	if err := s.saveVerified(); err != nil {
		b.cfg.Logger.Warn("recording verified artifacts", "err", err)
	}
	b.cfg.Logger.Info("artifacts verified in the background", "checked", checked, "damaged", found)
	if found > 0 && onDamage != nil {
		onDamage()
	}
	return ctx.Err()
}
