package notes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Ref is the notes ref gitboot writes.
const Ref = "refs/notes/gitboot"

// updateAttempts is how often Push tries before giving up on a remote ref
// that keeps moving.
const updateAttempts = 10

// optimisticAttempts is how often Update tries a compare-and-swap before it
// builds its commit under the ref's lock.
const optimisticAttempts = 3

// Notes reads and writes the notes of one repository. Its methods may be
// called from several goroutines; several Notes (in one process or many)
// and git itself may write the same repository's notes at once.
type Notes struct {
	// Name and Email are the author and committer of notes commits;
	// Open sets them to "gitboot" and "gitboot@localhost".
	Name, Email string
	// Remote is how Push reaches a remote (credentials, timeout); the
	// zero value: git's defaults and gitsrc.DefaultRemoteTimeout.
	Remote gitsrc.RemoteOptions

	ref   refFile
	mu    sync.Mutex // serializes this Notes' use of store
	store *filesystem.Storage
	packs string
	// written are the notes this Notes wrote lately, checked by the next
	// Update (see there).
	written map[[20]byte]written
}

// written is a note Update wrote, and when.
type written struct {
	blob plumbing.Hash
	at   time.Time
}

// keepWritten is how long Update checks that a note it wrote is still
// there: longer than a git command runs.
const keepWritten = time.Minute

// Open opens the notes of the git repository at path: a bare repository,
// a work tree or a linked worktree, as reconcile/gitsrc.Open takes.
func Open(path string) (*Notes, error) {
	gitDir, commonDir, err := gitsrc.GitDirs(path)
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	top, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(commonDir, "objects")); err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	own, err := repoOwner(commonDir)
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	n := &Notes{
		Name:  "gitboot",
		Email: "gitboot@localhost",
		ref: refFile{
			commonDir: commonDir,
			name:      Ref,
			reflog:    gitDir != top, // git logs notes updates where there is a work tree
			staleLock: 10 * time.Second,
			lockWait:  5 * time.Second,
			own:       own,
		},
		store: filesystem.NewStorage(ownedFS{Filesystem: osfs.New(commonDir), own: own}, cache.NewObjectLRUDefault()),
	}
	n.packs = n.packSet()
	return n, nil
}

// packSet lists the pack files; it changes when packs arrive or go.
func (n *Notes) packSet() string { return gitsrc.PackSet(n.ref.commonDir) }

// refresh reloads go-git's pack index if `git gc` or a fetch changed the
// packs since it was built (loose objects and refs are read from disk).
func (n *Notes) refresh() {
	if p := n.packSet(); p != n.packs {
		n.packs = p
		n.store.Reindex()
	}
}

// parseKey reads the hash of an annotated commit.
func parseKey(commit string) ([20]byte, error) {
	var k [20]byte
	if !plumbing.IsHash(commit) {
		return k, fmt.Errorf("annotating %q: not a full commit hash", commit)
	}
	h := plumbing.NewHash(commit)
	copy(k[:], h[:])
	return k, nil
}

// Read returns the records of the note on commit (a full hash), or nil if
// it has none. If some lines do not parse, Read returns the records of the
// others and a ParseErrors.
func (n *Notes) Read(commit string) ([]Record, error) {
	key, err := parseKey(commit)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refresh()
	tip, err := n.ref.read()
	if err != nil || tip.IsZero() {
		return nil, err
	}
	t, err := n.loadTree(tip)
	if err != nil {
		return nil, err
	}
	blob, err := t.get(key)
	if err != nil || blob.IsZero() {
		return nil, err
	}
	data, err := n.readBlob(blob)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// loadTree starts a trie from the notes commit tip (zero: no notes yet).
func (n *Notes) loadTree(tip plumbing.Hash) (*noteTree, error) {
	if tip.IsZero() {
		return loadNoteTree(n.store, plumbing.ZeroHash)
	}
	c, err := object.GetCommit(n.store, tip)
	if err != nil {
		return nil, fmt.Errorf("reading notes commit %s: %w", tip, err)
	}
	return loadNoteTree(n.store, c.TreeHash)
}

func (n *Notes) readBlob(h plumbing.Hash) ([]byte, error) {
	o, err := n.store.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("reading note %s: %w", h, err)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("reading note %s: %w", h, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading note %s: %w", h, err)
	}
	return data, nil
}

func (n *Notes) writeBlob(data []byte) (plumbing.Hash, error) {
	o := n.store.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	o.SetSize(int64(len(data)))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return n.store.SetEncodedObject(o)
}

// Update changes the notes of several commits in one notes commit. edits
// maps a commit (full hash) to a function from the records of its note (nil
// if it has none) to the records it should have; an empty result removes
// the note. Records that Format the same as before leave the note as it is,
// and if no note changes, nothing is written.
//
// The notes ref moves by compare-and-swap. If another writer (another
// Notes, another process, git) moved it meanwhile, Update reads the notes
// again and calls the edit functions again, so they must compute from their
// argument alone; after a few lost races it builds the commit while holding
// the ref's lock, which always succeeds.
//
// A note whose lines do not all parse is handed to its edit without them;
// they are dropped if the edit changes the note.
//
// `git notes` does not compare-and-swap: it writes the notes tree it read
// at its start in a commit on whatever the ref holds at its end, so a
// concurrent git command can undo a note gitboot just wrote (the commit
// stays in the history, its change is gone). Update therefore checks that
// the notes this Notes wrote in the last minute still hold their lines, and
// puts missing lines back (as cat_sort_uniq would). Update with no edits
// does only that.
func (n *Notes) Update(edits map[string]func(old []Record) []Record, message string) error {
	keys := make([][20]byte, 0, len(edits))
	fns := make(map[[20]byte]func([]Record) []Record, len(edits))
	for c, f := range edits {
		k, err := parseKey(c)
		if err != nil {
			return err
		}
		keys = append(keys, k)
		fns[k] = f
	}
	slices.SortFunc(keys, func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}

	// build makes the notes commit that follows old (zero: no change).
	var wrote map[[20]byte]plumbing.Hash
	build := func(old plumbing.Hash) (next plumbing.Hash, err error) {
		next, wrote, err = n.commitEdits(old, keys, fns, message)
		return next, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refresh()
	// Optimistic first: build without the lock, then compare-and-swap,
	// so git commands are never kept waiting for the lock while we build.
	for attempt := 1; attempt <= optimisticAttempts; attempt++ {
		old, err := n.ref.read()
		if err != nil {
			return err
		}
		next, err := build(old)
		if err != nil || next.IsZero() {
			return err
		}
		err = n.ref.compareAndSwap(old, next, n.ident(), "notes: "+message)
		if err == nil {
			n.remember(wrote)
			return nil
		}
		if !errors.Is(err, errRaced) {
			return err
		}
		backoff(attempt)
	}
	// Under contention, build under the lock: that always ends.
	next, err := n.ref.update(build, n.ident(), "notes: "+message)
	if err == nil && !next.IsZero() {
		n.remember(wrote)
	}
	return err
}

// remember notes this Notes just wrote, for restoreWritten.
func (n *Notes) remember(wrote map[[20]byte]plumbing.Hash) {
	if n.written == nil {
		n.written = map[[20]byte]written{}
	}
	now := time.Now()
	for k, h := range wrote {
		if h.IsZero() {
			delete(n.written, k)
		} else {
			n.written[k] = written{h, now}
		}
	}
}

// restoreWritten puts back into t the lines of the notes this Notes wrote
// lately that t lacks (see Update), and returns the notes it changed.
func (n *Notes) restoreWritten(t *noteTree) (map[[20]byte]plumbing.Hash, error) {
	restored := map[[20]byte]plumbing.Hash{}
	for k, w := range n.written {
		cur, err := t.get(k)
		if err != nil {
			return nil, err
		}
		if cur != w.blob {
			ours, err := n.readBlob(w.blob)
			if err != nil {
				return nil, err
			}
			var theirs []byte
			if !cur.IsZero() {
				if theirs, err = n.readBlob(cur); err != nil {
					return nil, err
				}
			}
			if merged := catSortUniq(theirs, ours); !bytes.Equal(merged, catSortUniq(theirs, nil)) {
				h, err := n.writeBlob(merged)
				if err != nil {
					return nil, err
				}
				if err := t.set(k, h); err != nil {
					return nil, err
				}
				restored[k] = h
				continue
			}
		}
		if time.Since(w.at) > keepWritten {
			delete(n.written, k)
		}
	}
	return restored, nil
}

// backoff sleeps a little more after each lost race, with jitter so that
// racing writers spread out.
func backoff(attempt int) {
	d := time.Duration(1<<min(attempt, 7)) * time.Millisecond
	time.Sleep(d/2 + rand.N(d))
}

// commitEdits applies the edits to the notes of commit old and writes the
// new notes commit, or returns the zero hash if nothing changes. It also
// returns the notes it wrote.
func (n *Notes) commitEdits(old plumbing.Hash, keys [][20]byte, fns map[[20]byte]func([]Record) []Record, message string) (plumbing.Hash, map[[20]byte]plumbing.Hash, error) {
	t, err := n.loadTree(old)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	wrote, err := n.restoreWritten(t)
	if err != nil {
		return plumbing.ZeroHash, nil, err
	}
	changed := len(wrote) > 0
	for _, k := range keys {
		blob, err := t.get(k)
		if err != nil {
			return plumbing.ZeroHash, nil, err
		}
		var before []Record
		if !blob.IsZero() {
			data, err := n.readBlob(blob)
			if err != nil {
				return plumbing.ZeroHash, nil, err
			}
			before, _ = Parse(data) // see Update on lines that do not parse
		}
		was := Format(before)
		after := Format(fns[k](before))
		if bytes.Equal(was, after) {
			continue
		}
		changed = true
		if len(after) == 0 {
			if err := t.remove(k); err != nil {
				return plumbing.ZeroHash, nil, err
			}
			wrote[k] = plumbing.ZeroHash // removed: stop checking it
			continue
		}
		h, err := n.writeBlob(after)
		if err != nil {
			return plumbing.ZeroHash, nil, fmt.Errorf("writing note: %w", err)
		}
		if err := t.set(k, h); err != nil {
			return plumbing.ZeroHash, nil, err
		}
		wrote[k] = h
	}
	if !changed {
		return plumbing.ZeroHash, nil, nil
	}
	next, err := n.writeCommit(t, message, old)
	return next, wrote, err
}

// writeCommit writes the tree of t and a notes commit of it.
func (n *Notes) writeCommit(t *noteTree, message string, parents ...plumbing.Hash) (plumbing.Hash, error) {
	tree, err := t.write()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("writing notes tree: %w", err)
	}
	sig := object.Signature{Name: n.Name, Email: n.Email, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: tree}
	for _, p := range parents {
		if !p.IsZero() {
			c.ParentHashes = append(c.ParentHashes, p)
		}
	}
	o := n.store.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := n.store.SetEncodedObject(o)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("writing notes commit: %w", err)
	}
	return h, nil
}

// ident is the committer as the reflog shows it.
func (n *Notes) ident() string {
	now := time.Now()
	return fmt.Sprintf("%s <%s> %d %s", n.Name, n.Email, now.Unix(), now.Format("-0700"))
}
