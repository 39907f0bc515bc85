// Package githook is the git hooks gitboot installs into the repository
// operators push to: the pre-receive and post-receive scripts, where git
// runs them (core.hooksPath), installing them without replacing anyone
// else's, reading the pre-receive input, and the post-receive poke of a
// running server. The tree export and commit reading of a pushed
// (quarantined) commit are gitsrc.ExportTree and gitsrc.CatCommit.
// cmd/gitboot (gitboot hooks) imports it.
package githook

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gitboot/gitboot/internal/atomicfile"
)

// Marker is the comment that tells gitboot's own hooks from anyone
// else's: only a hook carrying it is replaced without force.
const Marker = "# installed by gitboot hooks install"

// FullBranchRef turns "main" into "refs/heads/main" and checks the name.
func FullBranchRef(ref string) (string, error) {
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	if err := exec.Command("git", "check-ref-format", ref).Run(); err != nil {
		return "", fmt.Errorf("--ref %q: not a valid branch name", ref)
	}
	return ref, nil
}

// installGit runs git in dir for the installer, ignoring any GIT_DIR or
// GIT_WORK_TREE in the environment so that the repository alone decides.
func installGit(dir string, args ...string) (string, error) {
	c := exec.Command("git", append([]string{"-C", dir}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_DIR=") && !strings.HasPrefix(kv, "GIT_WORK_TREE=") {
			c.Env = append(c.Env, kv)
		}
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Dir returns the directory git runs repo's hooks from (core.hooksPath
// when set) and whether repo is bare. repo must be a bare repository or the
// top of a work tree, not a directory somewhere inside one.
func Dir(repo string) (dir string, bare bool, err error) {
	abs, err := filepath.Abs(repo)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", false, fmt.Errorf("--repo: %w", err)
	}
	notRepo := fmt.Errorf("--repo %s: not a bare git repository or the top of a work tree", repo)
	isBare, err := installGit(abs, "rev-parse", "--is-bare-repository")
	if err != nil {
		return "", false, notRepo
	}
	bare = isBare == "true"
	which := "--show-toplevel"
	if bare {
		which = "--absolute-git-dir"
	}
	top, err := installGit(abs, "rev-parse", which)
	if err != nil {
		return "", false, notRepo
	}
	if top, err = filepath.EvalSymlinks(top); err != nil || top != abs {
		return "", false, notRepo
	}
	// --git-path honours core.hooksPath, relative to where hooks run.
	p, err := installGit(abs, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return "", false, err
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(abs, p)
	}
	return p, bare, nil
}

// Hook is one hook script to install.
type Hook struct{ Name, Text string }

// Install writes hooks into dir. Every hook is checked before any is
// written, so a refusal (a hook gitboot did not write, without force)
// leaves nothing half installed.
func Install(dir string, hooks []Hook, force bool) error {
	for _, h := range hooks {
		if err := checkReplaceable(filepath.Join(dir, h.Name), force); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the hooks directory: %w", err)
	}
	for _, h := range hooks {
		if err := writeHook(filepath.Join(dir, h.Name), h.Text); err != nil {
			return err
		}
	}
	return nil
}

// checkReplaceable refuses to replace a hook gitboot did not write, unless forced.
func checkReplaceable(file string, force bool) error {
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil && !force:
		return fmt.Errorf("reading existing hook: %w", err)
	case force || bytes.Contains(data, []byte(Marker)):
		return nil
	}
	return fmt.Errorf("%s exists and was not installed by gitboot: merge it by hand, or pass --force to replace it", file)
}

// writeHook writes an executable hook atomically (atomicfile), so git
// never runs a half-written one.
func writeHook(file, text string) error {
	if err := atomicfile.WriteFile(file, []byte(text), 0o755); err != nil {
		return fmt.Errorf("writing hook: %w", err)
	}
	return nil
}

// ShQuote quotes s as one POSIX sh word.
func ShQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// flagWord is a command-line flag name, written into a script unquoted.
var flagWord = regexp.MustCompile(`^--[a-z][a-z-]*$`)

// PreReceiveScript hands the hook's input to `gitboot hooks pre-receive
// --ref REF ARGS...`, which does the work in Go: the pushed objects are
// only visible to the git command (they sit in git's quarantine
// directory), so it exports the tree with git and validates the copy.
// args are its further flags and their values (--var, --image-root,
// --ipxe-dir, --require-signed --trusted-keys ABSPATH); values are quoted.
func PreReceiveScript(exe, ref string, args []string) string {
	var words strings.Builder
	for _, a := range args {
		if flagWord.MatchString(a) {
			words.WriteString(" " + a)
		} else {
			words.WriteString(" " + ShQuote(a))
		}
	}
	return `#!/bin/sh
` + Marker + `
# pre-receive: refuse a push to ` + ref + ` whose tree ` + "`gitboot validate`" + ` rejects.
# Reinstall with ` + "`gitboot hooks install`" + ` rather than editing this file.
gitboot=` + ShQuote(exe) + `
if [ ! -x "$gitboot" ]; then
	echo "gitboot: $gitboot not found, so this push cannot be validated; reinstall the hooks with gitboot hooks install" >&2
	exit 1
fi
exec "$gitboot" hooks pre-receive --ref ` + ShQuote(ref) + words.String() + `
`
}

// InstallBoth installs the pre-receive hook (PreReceiveScript with args)
// and the post-receive hook (PostReceiveScript) into repo's hooks
// directory (see Dir and Install) for exe, the gitboot executable, and
// returns that directory and whether repo is bare.
func InstallBoth(repo, exe, ref, server string, args []string, force bool) (dir string, bare bool, err error) {
	if dir, bare, err = Dir(repo); err != nil {
		return "", false, err
	}
	err = Install(dir, []Hook{
		{Name: "pre-receive", Text: PreReceiveScript(exe, ref, args)},
		{Name: "post-receive", Text: PostReceiveScript(exe, ref, server)},
	}, force)
	return dir, bare, err
}

// Executable is this executable's path, symbolic links resolved: what a
// hook calls.
func Executable() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("finding the gitboot executable: %w", err)
	}
	return exe, nil
}
