package gitsrc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// The mirror's remote and the refs it mirrors. Fetch writes into the staging
// namespace first and then copies to refs/heads and refs/tags under the
// Source's lock: go-git rewrites a ref file in place, so a reader racing a
// fetch that wrote refs/heads directly could see an empty file and fall back
// to an older packed ref.
const (
	remoteName   = "origin"
	stagePrefix  = "refs/gitboot/fetch/"
	mirrorPrefix = "refs/"
)

var (
	mirrorRefSpecs = []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	stageRefSpecs  = []config.RefSpec{"+refs/heads/*:" + stagePrefix + "heads/*", "+refs/tags/*:" + stagePrefix + "tags/*"}
)

// scpLike matches git's scp-like syntax, [user@]host:path, where host is
// longer than one letter (so C:\x is not a host).
var scpLike = regexp.MustCompile(`^(?:[^@/:]+@)?[^@/:]{2,}:`)

// IsRemoteURL reports whether s names a remote repository (https://,
// http://, ssh://, git://, file:// or scp-like git@host:path) rather than a
// local directory.
func IsRemoteURL(s string) bool {
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		switch strings.ToLower(scheme) {
		case "https", "http", "ssh", "git", "file", "git+ssh", "ssh+git":
			return true
		}
		return false
	}
	return scpLike.MatchString(s)
}

// OpenRemote opens the bare mirror of the repository at url kept in dir,
// cloning it first if dir does not exist or is empty. An existing mirror is
// reused without fetching (call Fetch); one cloned from another URL is
// refused. A failed clone leaves dir as it was. The mirror tracks the
// remote's branches and tags (refs/heads/*, refs/tags/*), forced and pruned.
func OpenRemote(ctx context.Context, url, dir string, opts RemoteOptions) (*Source, error) {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		s, err := Open(dir)
		if err != nil {
			return nil, err
		}
		have, err := s.originURL()
		if err != nil {
			return nil, fmt.Errorf("opening mirror %s: %w", dir, err)
		}
		if have != url {
			return nil, fmt.Errorf("%s is a mirror of %s, not %s: remove it or use another state directory", dir, have, url)
		}
		s.remote, s.rconf = url, opts
		return s, nil
	}
	if es, err := os.ReadDir(dir); err == nil && len(es) > 0 {
		return nil, fmt.Errorf("cloning %s: %s is not empty and not a git repository", url, dir)
	}
	if err := clone(ctx, url, dir, opts); err != nil {
		return nil, err
	}
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.remote, s.rconf = url, opts
	return s, nil
}

// clone makes the mirror in a temporary directory beside dir and renames it
// into place once the first fetch succeeded.
func clone(ctx context.Context, url, dir string, opts RemoteOptions) error {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".clone-")
	if err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	repo, err := git.PlainInit(tmp, true)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{url}, Fetch: mirrorRefSpecs}); err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	tmpSrc, err := Open(tmp)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	tmpSrc.remote, tmpSrc.rconf = url, opts
	if err := tmpSrc.Fetch(ctx); err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	// Point HEAD at the remote's default branch when there is one, so `git
	// log` in the mirror reads naturally; nothing here depends on it.
	if head, err := tmpSrc.repo.Reference(plumbing.HEAD, false); err == nil && head.Type() == plumbing.SymbolicReference {
		if _, err := tmpSrc.repo.Reference(head.Target(), false); err != nil {
			for _, b := range []string{"main", "master"} {
				if _, err := tmpSrc.repo.Reference(plumbing.NewBranchReferenceName(b), false); err == nil {
					_ = tmpSrc.store.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(b)))
					break
				}
			}
		}
	}
	_ = os.Remove(dir) // an empty directory is replaced
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("cloning %s: %w", url, err)
	}
	return nil
}

func (s *Source) originURL() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo.Remote(remoteName)
	if err != nil {
		return "", fmt.Errorf("remote %s: %w", remoteName, err)
	}
	if urls := r.Config().URLs; len(urls) > 0 {
		return urls[0], nil
	}
	return "", fmt.Errorf("remote %s has no URL", remoteName)
}

// Remote returns the URL of a remote source, or "" for a local one.
func (s *Source) Remote() string { return s.remote }

// Fetch brings the mirror of a remote source up to date with the remote:
// branches and tags are forced (a force-push is seen) and pruned. Being up
// to date is not an error. On error the mirror keeps its previous state and
// stays readable. For a local source Fetch does nothing and returns nil.
func (s *Source) Fetch(ctx context.Context) error {
	if s.remote == "" {
		return nil
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	// git fetch, killed after the timeout, into the staging refs; readers
	// pick the new pack up by its name (see refreshLocked).
	args := []string{"fetch", "--quiet", "--no-tags", "--prune", "--force", "--no-write-fetch-head", s.remote}
	for _, rs := range stageRefSpecs {
		args = append(args, rs.String())
	}
	if err := s.rconf.RunGit(ctx, s.Path, args...); err != nil {
		return fmt.Errorf("fetching %s: %w", s.remote, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
	if err := s.publishLocked(); err != nil {
		return fmt.Errorf("fetching %s: %w", s.remote, err)
	}
	return nil
}

// publishLocked makes refs/heads and refs/tags equal to the staged refs the
// last fetch wrote.
func (s *Source) publishLocked() error {
	staged, published := map[plumbing.ReferenceName]plumbing.Hash{}, map[plumbing.ReferenceName]plumbing.Hash{}
	iter, err := s.store.IterReferences()
	if err != nil {
		return err
	}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference {
			return nil
		}
		name := r.Name().String()
		if rest, ok := strings.CutPrefix(name, stagePrefix); ok {
			staged[plumbing.ReferenceName(mirrorPrefix+rest)] = r.Hash()
		} else if r.Name().IsBranch() || r.Name().IsTag() {
			published[r.Name()] = r.Hash()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name, h := range staged {
		if old, ok := published[name]; !ok || old != h {
			if err := s.store.SetReference(plumbing.NewHashReference(name, h)); err != nil {
				return fmt.Errorf("updating %s: %w", name, err)
			}
		}
	}
	for name := range published {
		if _, ok := staged[name]; !ok {
			if err := s.store.RemoveReference(name); err != nil {
				return fmt.Errorf("removing %s: %w", name, err)
			}
		}
	}
	return nil
}
