package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"golang.org/x/sys/unix"
)

// openSource opens the repository a command reads: a local path, or (for
// serve) a remote URL cloned into the state directory.
func openSource(ctx context.Context, repo, state string, opts gitsrc.RemoteOptions) (reconcile.Source, error) {
	if gitsrc.IsRemoteURL(repo) {
		return gitsrc.OpenRemote(ctx, repo, filepath.Join(state, "source"), opts)
	}
	return gitsrc.Open(repo)
}

// LockState takes the state directory for this process: one server (or
// one `gitboot apply --state`) at a time.
func LockState(dir string) (func(), error) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state directory %s is in use by another gitboot serve or apply (%s is locked): "+
			"with a server running, use --server URL", dir, p)
	}
	return func() { f.Close() }, nil
}

// repoPath is the local repository a source reads (a remote's mirror).
func repoPath(src reconcile.Source) string {
	if s, ok := src.(*gitsrc.Source); ok {
		return s.Path
	}
	return ""
}

// remoteOf is a remote source's URL ("" for a local repository).
func remoteOf(src reconcile.Source) string {
	if s, ok := src.(*gitsrc.Source); ok {
		return s.Remote()
	}
	return ""
}
