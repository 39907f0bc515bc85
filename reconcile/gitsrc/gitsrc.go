// Package gitsrc reads a cluster repository from git: it opens a local
// repository (bare or with a work tree) with go-git, resolves the tracked
// branch to a commit, and exposes that commit's tree as an fs.FS, so what
// is loaded is exactly what was committed, never the work tree.
//
// Imported by reconcile and cmd/gitboot. Watching for pushes, remote
// fetches and signature checks belong here too (see DESIGN.md).
package gitsrc

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// Source is an opened local git repository.
type Source struct {
	Path string
	repo *git.Repository
}

// Open opens the git repository at path (a bare repository or a work tree's
// top directory).
func Open(path string) (*Source, error) {
	repo, err := git.PlainOpenWithOptions(path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", path, err)
	}
	return &Source{Path: path, repo: repo}, nil
}

// Commit is one resolved commit and its tree.
type Commit struct {
	Hash    string // full hex hash
	Ref     string // the ref it was resolved from, e.g. "refs/heads/main"
	Subject string // first line of the message
	Author  string
	When    time.Time
	FS      fs.FS // the commit's tree, read-only
}

// Short returns the first 12 hex digits of the hash.
func (c *Commit) Short() string {
	if len(c.Hash) > 12 {
		return c.Hash[:12]
	}
	return c.Hash
}

// Resolve resolves ref (a branch name such as "main", a full ref name, a
// tag, or a commit hash) to a commit.
func (s *Source) Resolve(ref string) (*Commit, error) {
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
		Hash: hash.String(), Ref: refName, Subject: subject, Author: c.Author.Name, When: c.Committer.When,
		FS: &TreeFS{tree: tree, mtime: c.Committer.When},
	}, nil
}

func (s *Source) resolveHash(ref string) (plumbing.Hash, string, error) {
	candidates := []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	if !strings.HasPrefix(ref, "refs/") {
		candidates = []plumbing.ReferenceName{plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref)}
	}
	for _, name := range candidates {
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
