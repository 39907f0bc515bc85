package notes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Push sends the notes to the repository at remoteURL
// (refs/notes/gitboot:refs/notes/gitboot, never forced). If the remote's
// notes moved on (another server pushed), Push fetches them, merges them
// into the local notes as `git notes merge -s cat_sort_uniq` would (per
// annotated commit, the union of the lines, sorted, each once; a note on one
// side only is kept), and pushes again, a few times at most. With no local
// notes, Push does nothing.
//
// The merge keeps every line of both sides, so a note removed on one side
// comes back from the other.
func (n *Notes) Push(ctx context.Context, remoteURL string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for attempt := 1; ; attempt++ {
		n.refresh()
		local, err := n.ref.read()
		if err != nil || local.IsZero() {
			return err
		}
		err = n.Remote.RunGit(ctx, n.ref.commonDir, "push", "--quiet", "--no-verify", remoteURL, Ref+":"+Ref)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("pushing notes to %s: %w", remoteURL, err)
		}
		// Whatever the error said, merge if the remote has notes we lack.
		merged, merr := n.mergeRemote(ctx, remoteURL)
		if merr != nil {
			return fmt.Errorf("pushing notes to %s: %w (then merging theirs: %w)", remoteURL, err, merr)
		}
		if !merged {
			return fmt.Errorf("pushing notes to %s: %w", remoteURL, err)
		}
		if attempt == updateAttempts {
			return fmt.Errorf("pushing notes to %s: the remote notes moved %d times", remoteURL, attempt)
		}
	}
}

// mergeRemote fetches the remote's notes into a temporary ref and merges
// them into the local notes. It reports false if the remote has no notes
// the local ones lack.
func (n *Notes) mergeRemote(ctx context.Context, remoteURL string) (bool, error) {
	tmp := plumbing.ReferenceName(fmt.Sprintf("refs/gitboot/tmp/notes-%d-%x", os.Getpid(), rand.Uint64()))
	defer os.Remove(filepath.Join(n.ref.commonDir, tmp.String()))
	err := n.Remote.RunGit(ctx, n.ref.commonDir, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remoteURL, "+"+Ref+":"+tmp.String())
	if err != nil {
		if strings.Contains(err.Error(), "couldn't find remote ref") {
			return false, nil // the remote has no notes: not what stopped the push
		}
		return false, fmt.Errorf("fetching their notes: %w", err)
	}
	n.refresh()
	ref, err := n.store.Reference(tmp)
	if err != nil {
		return false, fmt.Errorf("fetching their notes: %w", err)
	}
	theirs := ref.Hash()
	n.refresh()
	for attempt := 1; ; attempt++ {
		ours, err := n.ref.read()
		if err != nil {
			return false, err
		}
		next, err := n.merge(ours, theirs)
		if err != nil || next == ours {
			return false, err
		}
		err = n.ref.compareAndSwap(ours, next, n.ident(), "notes: merged remote notes")
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, errRaced) || attempt == updateAttempts {
			return false, err
		}
		backoff(attempt)
	}
}

// merge returns the notes commit that holds both ours and theirs: ours if
// it already has theirs, theirs if it has ours, else a merge commit whose
// tree is the union (see Push).
func (n *Notes) merge(ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	if ours == theirs {
		return ours, nil
	}
	tc, err := object.GetCommit(n.store, theirs)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading their notes: %w", err)
	}
	if ours.IsZero() {
		return theirs, nil
	}
	oc, err := object.GetCommit(n.store, ours)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading our notes: %w", err)
	}
	if ok, err := tc.IsAncestor(oc); err != nil || ok {
		return ours, err
	}
	if ok, err := oc.IsAncestor(tc); err != nil || ok {
		return theirs, err
	}
	return n.union(oc, tc)
}

// union writes a merge commit of ours and theirs whose tree has the notes
// of both (see Push).
func (n *Notes) union(oc, tc *object.Commit) (plumbing.Hash, error) {
	ours, theirs := oc.Hash, tc.Hash
	theirNotes, err := allNotes(n.store, tc.TreeHash)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	t, err := loadNoteTree(n.store, oc.TreeHash)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	keys := make([][20]byte, 0, len(theirNotes))
	for k := range theirNotes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range keys {
		their := theirNotes[k]
		our, err := t.get(k)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if our == their {
			continue
		}
		blob := their
		if !our.IsZero() {
			a, err := n.readBlob(our)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			b, err := n.readBlob(their)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			if blob, err = n.writeBlob(catSortUniq(a, b)); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		if err := t.set(k, blob); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	return n.writeCommit(t, "Notes merged by gitboot (cat_sort_uniq)\n", ours, theirs)
}

// catSortUniq is git's combine_notes_cat_sort_uniq: the lines of both
// notes, empty ones dropped, sorted bytewise, each once, each ending in a
// newline. Its result for the same notes is the same blob git writes.
func catSortUniq(a, b []byte) []byte {
	lines := slices.Concat(bytes.Split(a, []byte{'\n'}), bytes.Split(b, []byte{'\n'}))
	lines = slices.DeleteFunc(lines, func(l []byte) bool { return len(l) == 0 })
	slices.SortFunc(lines, bytes.Compare)
	lines = slices.CompactFunc(lines, bytes.Equal)
	var out bytes.Buffer
	for _, l := range lines {
		out.Write(l)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
