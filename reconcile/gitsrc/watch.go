package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// newFSWatcher makes the inotify watcher; tests replace it to fail as the
// inotify limit does (fsnotify.NewWatcher: "too many open files").
var newFSWatcher = fsnotify.NewWatcher

// DefaultDebounce is how long Watch waits for more events before it
// notifies.
const DefaultDebounce = 100 * time.Millisecond

// maxBurst bounds a burst, in debounce periods from its first event.
const maxBurst = 10

// Watch calls notify whenever ref (as Resolve takes it) may have moved,
// until ctx is done; then it returns nil. It returns an error if the
// repository cannot be watched or the watch breaks; the caller then falls
// back to polling. Events are gathered for debounce (DefaultDebounce if
// zero or less) after the last one, but never longer than ten times that
// after the first, so a burst (a push of many refs, a `git gc`) yields one
// call and a steady stream still gets one now and then. Events for other refs and other files are
// ignored. notify runs on Watch's goroutine: it should only hand the news
// on, e.g. by a non-blocking send on a channel of capacity one, and
// Resolve.
//
// Watch uses fsnotify on directories, never on files, since git replaces a
// ref by renaming REF.lock onto it and rewrites packed-refs the same way:
// the repository's common git directory (packed-refs), refs/, and every
// directory down to the ref (refs/heads/feature/ for feature/x), adding
// those created later. It works for a bare repository, a work tree and a
// linked worktree (whose branches live in the common directory). For a
// remote source it sees the mirror change when Fetch publishes; the remote
// itself is not watched. A commit hash never moves: then notify is never
// called.
func (s *Source) Watch(ctx context.Context, ref string, debounce time.Duration, notify func()) error {
	w, err := s.newRefWatcher(ref, debounce)
	if err != nil {
		return err
	}
	return w.run(ctx, notify)
}

// refWatcher is Watch split into construction (watches in place when it
// returns) and its loop, so tests act only once the watches exist.
type refWatcher struct {
	w          *fsnotify.Watcher
	root       string
	debounce   time.Duration
	packedRefs string          // packed-refs in the common directory
	files      map[string]bool // the loose ref files ref may be
	dirs       []string        // the directories watched, parents first
	isDir      map[string]bool
}

func (s *Source) newRefWatcher(ref string, debounce time.Duration) (*refWatcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	rw := &refWatcher{
		root: s.commonDir, debounce: debounce, packedRefs: filepath.Join(s.commonDir, "packed-refs"),
		files: map[string]bool{}, isDir: map[string]bool{s.commonDir: true},
	}
	for _, name := range refCandidates(ref) {
		file := filepath.Join(s.commonDir, filepath.FromSlash(name.String()))
		rw.files[file] = true
		for dir := filepath.Dir(file); dir != s.commonDir && !rw.isDir[dir]; dir = filepath.Dir(dir) {
			rw.isDir[dir] = true
		}
	}
	for dir := range rw.isDir {
		rw.dirs = append(rw.dirs, dir)
	}
	slices.SortFunc(rw.dirs, func(a, b string) int { return len(a) - len(b) })
	var err error
	if rw.w, err = newFSWatcher(); err != nil {
		return nil, fmt.Errorf("watching %s: %w", s.Path, err)
	}
	if err := rw.w.Add(s.commonDir); err != nil {
		rw.w.Close()
		return nil, fmt.Errorf("watching %s: %w", s.Path, err)
	}
	rw.sync()
	return rw, nil
}

// sync watches every wanted directory that exists. Adding a watched
// directory again is harmless, and one deleted and made again gets a new
// watch.
func (rw *refWatcher) sync() {
	for _, dir := range rw.dirs[1:] {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			_ = rw.w.Add(dir) // it may be gone again: its parent's event syncs
		}
	}
}

// relevant reports whether ev may mean the ref moved, watching directories
// that appeared.
func (rw *refWatcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Clean(ev.Name)
	switch {
	case name == rw.packedRefs || rw.files[name]:
		return true
	case rw.isDir[name] && ev.Op.Has(fsnotify.Create):
		// The ref may have been written before the new directory was
		// watched, so count the directory as a change.
		rw.sync()
		return true
	}
	return false
}

func (rw *refWatcher) run(ctx context.Context, notify func()) error {
	defer rw.w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		fire  <-chan time.Time // timer.C while a burst is gathered
		first time.Time        // the burst's first event
	)
	// changed (re)arms the timer for a relevant event.
	changed := func() {
		now := time.Now()
		if fire == nil {
			first, fire = now, timer.C
		}
		timer.Reset(min(rw.debounce, first.Add(maxBurst*rw.debounce).Sub(now)))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-rw.w.Events:
			if !ok {
				return nil
			}
			if rw.relevant(ev) {
				changed()
			}
		case err, ok := <-rw.w.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("watching %s: %w", rw.root, err)
			}
			// Events were lost: anything may have changed.
			rw.sync()
			changed()
		case <-fire:
			fire = nil
			notify()
		}
	}
}
