// Package gitsrc reads a cluster repository from git: it opens a local
// repository (bare or with a work tree) with go-git, or clones a remote one
// into a bare mirror and fetches it; it resolves the tracked branch to a
// commit and exposes that commit's tree as an fs.FS, so what is loaded is
// exactly what was committed, never the work tree.
//
// Reads always see the repository as it is on disk now: refs are read afresh
// on every Resolve, and when a push, a fetch or `git gc` adds or removes pack
// files the pack index is reloaded, so a Commit resolved earlier stays
// readable as long as its objects exist. Watch tells the reconcile loop when
// the tracked ref may have moved (fsnotify on the ref directories, debounced);
// for a remote source the loop calls Fetch on a timer instead.
//
// A Source and the fs.FS of its commits are safe for concurrent use; reads
// through one Source are serialised.
//
// Imported by reconcile and cmd/gitboot. Signature checks belong here too
// (see DESIGN.md).
package gitsrc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// largeObject is the size above which an object is streamed from its file
// on each read rather than held in memory (a file of 10,000 node blocks is
// some 700 KB).
const largeObject = 256 << 10

// Source is an opened git repository: a local one, or the bare mirror of a
// remote one (see OpenRemote).
type Source struct {
	Path string // as given to Open, or the mirror directory

	gitDir    string // absolute: HEAD and per-worktree files
	commonDir string // absolute: objects, refs and packed-refs

	remote  string // URL of a remote source, "" for a local one
	rconf   RemoteOptions
	fetchMu sync.Mutex // one Fetch at a time

	mu    sync.Mutex // guards everything below and every read through repo
	repo  *git.Repository
	store *filesystem.Storage
	packs string // the pack files the store's index was (re)built from
}

// Open opens the git repository at path (a bare repository or a work tree's
// top directory; a linked worktree reads objects and refs from its common
// directory).
func Open(path string) (*Source, error) {
	repo, err := git.PlainOpenWithOptions(path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	opened, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("opening git repository %s: storage is %T, not a directory", path, repo.Storer)
	}
	// The same directories, with large objects read straight from their
	// file into the reader's buffer (go-git otherwise inflates a loose
	// object into a buffer grown by appends and keeps it in its cache).
	store := filesystem.NewStorageWithOptions(opened.Filesystem(), cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: largeObject})
	if repo, err = git.Open(store, nil); err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	gitDir, commonDir, err := GitDirs(path)
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	s := &Source{Path: path, gitDir: gitDir, commonDir: commonDir, repo: repo, store: store}
	s.packs = s.packSet()
	return s, nil
}

// GitDirs returns the absolute git directory of the repository at path
// (path itself for a bare repository, its .git for a work tree, the
// worktree's directory for a linked worktree) and the common directory its
// objects and refs live in (the same for anything but a linked worktree).
// reconcile/notes opens repositories the same way.
func GitDirs(path string) (gitDir, commonDir string, err error) {
	top, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	gitDir = top
	dotGit := filepath.Join(top, ".git")
	if st, err := os.Stat(dotGit); err == nil {
		gitDir = dotGit
		if !st.IsDir() { // a linked worktree: ".git" is a file "gitdir: DIR"
			data, err := os.ReadFile(dotGit)
			if err != nil {
				return "", "", err
			}
			line, _, _ := strings.Cut(string(data), "\n")
			dir, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
			if !ok {
				return "", "", fmt.Errorf("%s: no gitdir line", dotGit)
			}
			gitDir = absUnder(top, strings.TrimSpace(dir))
		}
	}
	commonDir = gitDir
	if data, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		commonDir = absUnder(gitDir, strings.TrimSpace(string(data)))
	}
	return gitDir, commonDir, nil
}

func absUnder(base, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

// packSet lists the repository's pack files. Pack names are content
// hashes, so the list changes exactly when packs arrive or go away.
func (s *Source) packSet() string { return PackSet(s.commonDir) }

// PackSet lists the pack files of the repository whose common directory is
// commonDir. Pack names are content hashes, so the list changes exactly
// when packs arrive or go away: the moment go-git's cached pack index must
// be reloaded.
func PackSet(commonDir string) string {
	es, _ := os.ReadDir(filepath.Join(commonDir, "objects", "pack"))
	var names []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".pack") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// refreshLocked reloads the pack index if the pack files changed since it
// was built, and reports whether it did. go-git keeps the index of every
// pack in memory; without this, objects in a pack that arrived later are not
// found and objects that `git gc` moved read from a deleted file. Loose
// objects and refs are always read from disk, and cached objects are keyed
// by hash, so the index is the only state that goes stale.
func (s *Source) refreshLocked() bool {
	packs := s.packSet()
	if packs == s.packs {
		return false
	}
	s.packs = packs
	s.store.Reindex()
	return true
}

// read runs f under the lock. If f fails and the pack files changed, it
// reloads the index and runs f once more: a stale index yields errors,
// never wrong content, so retrying on error is enough.
func (s *Source) read(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := f()
	if err != nil && s.refreshLocked() {
		err = f()
	}
	return err
}

// Commit is one resolved commit and its tree.
type Commit struct {
	Hash    string // full hex hash
	Ref     string // the ref it was resolved from, e.g. "refs/heads/main"
	Subject string // first line of the message
	Author  string
	Email   string // the author's email address
	When    time.Time
	Tree    string // full hex hash of the commit's tree
	FS      fs.FS  // the commit's tree, read-only
}

// Short returns the first 12 hex digits of the hash.
func (c *Commit) Short() string {
	if len(c.Hash) > 12 {
		return c.Hash[:12]
	}
	return c.Hash
}

// Resolve resolves ref (a branch name such as "main", a full ref name, a
// tag, or a commit hash) to a commit, as the repository is on disk now.
func (s *Source) Resolve(ref string) (*Commit, error) {
	var c *Commit
	err := s.read(func() error {
		s.refreshLocked()
		var err error
		c, err = s.resolveLocked(ref)
		return err
	})
	return c, err
}

func (s *Source) resolveLocked(ref string) (*Commit, error) {
	hash, refName, err := s.resolveHash(ref)
	if err != nil {
		return nil, err
	}
	c, err := s.repo.CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", hash, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading tree of commit %s: %w", hash, err)
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	return &Commit{
		Hash: hash.String(), Ref: refName, Subject: subject, Author: c.Author.Name, Email: c.Author.Email,
		When: c.Committer.When, Tree: c.TreeHash.String(),
		FS: &TreeFS{src: s, tree: tree, mtime: c.Committer.When},
	}, nil
}

// refCandidates returns the full ref names ref may stand for, in the order
// Resolve tries them.
func refCandidates(ref string) []plumbing.ReferenceName {
	if ref == "HEAD" || strings.HasPrefix(ref, "refs/") {
		return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	}
	return []plumbing.ReferenceName{plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref)}
}

func (s *Source) resolveHash(ref string) (plumbing.Hash, string, error) {
	for _, name := range refCandidates(ref) {
		r, err := s.repo.Reference(name, true)
		if err == nil {
			h := r.Hash()
			if name.IsTag() {
				if t, err := s.repo.TagObject(h); err == nil {
					h = t.Target
				}
			}
			return h, name.String(), nil
		}
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, "", fmt.Errorf("resolving %s: %w", name, err)
		}
	}
	if plumbing.IsHash(ref) {
		return plumbing.NewHash(ref), ref, nil
	}
	return plumbing.ZeroHash, "", fmt.Errorf("%s: no branch, tag or commit named %q", s.Path, ref)
}

// Ensure the tree FS satisfies the interfaces callers rely on.
var (
	_ fs.ReadDirFS  = (*TreeFS)(nil)
	_ fs.ReadLinkFS = (*TreeFS)(nil)
	_ fs.StatFS     = (*TreeFS)(nil)
)
