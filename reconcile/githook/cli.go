package githook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// Setup is what `gitboot hooks install` installs.
type Setup struct {
	Repo, Ref string // the repository operators push to; the branch (short or full)
	Server    string // the server post-receive pokes
	// ExampleServer is named when Server is not a URL.
	ExampleServer string
	// Args are the pre-receive hook's arguments after --ref: its --var,
	// --image-root and --ipxe-dir.
	Args []string
	// KeysFile is the trusted keys' absolute path when commits must be
	// signed, else "".
	KeysFile string
	Force    bool // replace hooks gitboot did not install
}

// Run installs both hooks for this executable and says so on out.
func (s Setup) Run(out io.Writer) error {
	ref, err := FullBranchRef(s.Ref)
	if err != nil {
		return err
	}
	if u, err := url.Parse(s.Server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q: expected a URL such as %s", s.Server, s.ExampleServer)
	}
	exe, err := Executable()
	if err != nil {
		return err
	}
	args := s.Args
	if s.KeysFile != "" {
		args = append(args[:len(args):len(args)], "--require-signed", "--trusted-keys", s.KeysFile)
	}
	dir, bare, err := InstallBoth(s.Repo, exe, ref, s.Server, args, s.Force)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Installed pre-receive and post-receive in %s:\n", dir)
	fmt.Fprintf(out, "  pushes to %s are validated; then the server at %s is asked to apply them.\n", ref, s.Server)
	if s.KeysFile != "" {
		fmt.Fprintf(out, "  only commits signed by a key in %s are accepted.\n", s.KeysFile)
	}
	if !bare {
		fmt.Fprintln(out, "Note: this is not a bare repository; git refuses pushes to its checked-out branch.")
	}
	return nil
}

// RunPreReceive is the pre-receive hook: it checks the push of ref read
// from stdin with this executable's validate and its args (see
// PreReceive); a refused push is exit status 1. policy is nil when
// signatures are not required.
func RunPreReceive(ctx context.Context, stdin io.Reader, stderr io.Writer, ref string, args []string,
	keysFile string, policy func() (*gitsrc.Policy, error)) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("pre-receive: %w", err)
	}
	check := PreReceive{Ref: ref, Validate: append([]string{exe, "validate"}, args...), KeysFile: keysFile,
		Policy: policy, Stderr: stderr}
	ok, err := check.Check(ctx, stdin)
	if err == nil && !ok {
		return clio.Exit{Code: 1}
	}
	return err
}

// RunPoke is the post-receive hook: it pokes server with c and says on
// stderr what came of it; a server not reached or refusing is exit
// status 1 (the push has succeeded all the same).
func RunPoke(ctx context.Context, c *http.Client, server string, stderr io.Writer) error {
	err := PokeWith(ctx, c, server)
	var se PokeStatusError
	switch {
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "gitboot: the server at %s answered POST /reconcile with %s (it will notice the push within its poll interval)\n", server, se.Status)
		return clio.Exit{Code: 1}
	case err != nil:
		fmt.Fprintf(stderr, "gitboot: could not reach the server at %s (it will notice the push within its poll interval)\n", server)
		return clio.Exit{Code: 1}
	}
	fmt.Fprintf(stderr, "gitboot: asked the server at %s to apply the push now\n", server)
	return nil
}
