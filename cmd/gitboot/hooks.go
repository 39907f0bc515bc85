package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/spf13/cobra"
)

// hookMarker is the comment that tells gitboot's own hooks from anyone
// else's: only a hook carrying it is replaced without --force.
const hookMarker = "# installed by gitboot hooks install"

// pokeTimeout bounds the post-receive hook's request: a push never waits long
// for a server that is down.
const pokeTimeout = 2 * time.Second

func newHooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Install git hooks that validate pushes and tell the server about them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newHooksInstallCmd(), newHooksPreReceiveCmd(), newHooksPokeCmd())
	return cmd
}

type hooksInstallFlags struct {
	repo, server, ref string
	vars              []string
	force             bool
	signing           signingFlags
	roots             rootFlags
}

func newHooksInstallCmd() *cobra.Command {
	var f hooksInstallFlags
	cmd := &cobra.Command{
		Use:   "install --repo BARE [--server URL] [--ref main] [--var name=value ...] [--require-signed --trusted-keys FILE] [--force]",
		Short: "Install pre-receive (validate) and post-receive (poke the server) hooks",
		Long: "Install two hooks into the repository operators push to (the one `gitboot serve --repo`\n" +
			"reads), in its hooks directory (core.hooksPath when set):\n\n" +
			"  pre-receive   runs `gitboot validate` on the tree of each commit pushed to --ref and\n" +
			"                refuses the push when it is invalid, so `git push` prints the diagnostics;\n" +
			"                deleting --ref is refused too. Other refs are not checked. With\n" +
			"                --require-signed it first refuses a commit not signed by a key in\n" +
			"                --trusted-keys (read at each push from its absolute path). Image sources\n" +
			"                and ipxe_dir must lie in --image-root and --ipxe-dir: give the same as\n" +
			"                to gitboot serve.\n" +
			"  post-receive  asks the server at --server to reconcile now (POST /reconcile, 2s timeout);\n" +
			"                if it cannot be reached the push still succeeds, and the server notices it\n" +
			"                within its poll interval.\n\n" +
			"The hooks call this gitboot executable by its absolute path: reinstall after moving it.\n" +
			"A hook not installed by gitboot is left alone unless --force is given.\n" +
			"--repo is normally a bare repository. A work tree is accepted (its hooks go in .git/hooks),\n" +
			"but git refuses pushes to a non-bare repository's checked-out branch anyway.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHooksInstall(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "repository that operators push to (required)")
	fl.StringVar(&f.server, "server", defaultServerURL, "URL of `gitboot serve`, for post-receive")
	fl.StringVar(&f.ref, "ref", "main", "branch to validate and apply (as `gitboot serve --ref`)")
	fl.StringArrayVar(&f.vars, "var", nil, "input variable for validation: --var name=value (repeatable)")
	fl.BoolVar(&f.force, "force", false, "replace existing hooks that gitboot did not install")
	f.signing.register(fl)
	f.roots.register(fl)
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

func runHooksInstall(cmd *cobra.Command, f hooksInstallFlags) error {
	ref, err := fullBranchRef(f.ref)
	if err != nil {
		return err
	}
	if err := checkServerURL(f.server); err != nil {
		return err
	}
	if _, err := loadOptions(".", f.vars); err != nil {
		return err
	}
	roots, err := f.roots.roots()
	if err != nil {
		return err
	}
	// The hook names the roots by absolute path.
	f.roots = rootFlags{images: roots.Images, ipxe: roots.IPXE}
	policy, err := f.signing.policy() // read now, so a bad keys file is reported here
	if err != nil {
		return err
	}
	keys := ""
	if policy != nil {
		if keys, err = f.signing.absKeys(); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the gitboot executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("finding the gitboot executable: %w", err)
	}
	dir, bare, err := hooksDir(f.repo)
	if err != nil {
		return err
	}
	hooks := []struct{ name, text string }{
		{"pre-receive", preReceiveScript(exe, ref, f.vars, keys, f.roots)},
		{"post-receive", postReceiveScript(exe, ref, f.server)},
	}
	// Check every hook before writing any, so a refusal leaves nothing half installed.
	for _, h := range hooks {
		if err := checkReplaceable(filepath.Join(dir, h.name), f.force); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the hooks directory: %w", err)
	}
	for _, h := range hooks {
		if err := writeHook(filepath.Join(dir, h.name), h.text); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Installed pre-receive and post-receive in %s:\n", dir)
	fmt.Fprintf(out, "  pushes to %s are validated; then the server at %s is asked to apply them.\n", ref, f.server)
	if keys != "" {
		fmt.Fprintf(out, "  only commits signed by a key in %s are accepted.\n", keys)
	}
	if !bare {
		fmt.Fprintln(out, "Note: this is not a bare repository; git refuses pushes to its checked-out branch.")
	}
	return nil
}

// fullBranchRef turns "main" into "refs/heads/main" and checks the name.
func fullBranchRef(ref string) (string, error) {
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	if err := exec.Command("git", "check-ref-format", ref).Run(); err != nil {
		return "", fmt.Errorf("--ref %q: not a valid branch name", ref)
	}
	return ref, nil
}

func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q: expected a URL such as %s", s, defaultServerURL)
	}
	return nil
}

// installGit runs git in dir for the installer, ignoring any GIT_DIR or
// GIT_WORK_TREE in the environment so that --repo alone decides.
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

// hooksDir returns the directory git runs repo's hooks from (core.hooksPath
// when set) and whether repo is bare. repo must be a bare repository or the
// top of a work tree, not a directory somewhere inside one.
func hooksDir(repo string) (dir string, bare bool, err error) {
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

// checkReplaceable refuses to replace a hook gitboot did not write, unless forced.
func checkReplaceable(file string, force bool) error {
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil && !force:
		return fmt.Errorf("reading existing hook: %w", err)
	case force || bytes.Contains(data, []byte(hookMarker)):
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

// shQuote quotes s as one POSIX sh word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// preReceiveScript hands the hook's input to `gitboot hooks pre-receive`,
// which does the work in Go: the pushed objects are only visible to the git
// command (they sit in git's quarantine directory), so it exports the tree
// with git and validates the copy. keys, when not "", is the absolute
// path of the trusted keys file: the pushed commit must be signed. roots
// are the server directories image sources and ipxe_dir must lie in.
func preReceiveScript(exe, ref string, vars []string, keys string, roots rootFlags) string {
	var args strings.Builder
	for _, v := range vars {
		args.WriteString(" --var " + shQuote(v))
	}
	for _, a := range roots.args() {
		if strings.HasPrefix(a, "--") {
			args.WriteString(" " + a)
		} else {
			args.WriteString(" " + shQuote(a))
		}
	}
	if keys != "" {
		args.WriteString(" --require-signed --trusted-keys " + shQuote(keys))
	}
	return `#!/bin/sh
` + hookMarker + `
# pre-receive: refuse a push to ` + ref + ` whose tree ` + "`gitboot validate`" + ` rejects.
# Reinstall with ` + "`gitboot hooks install`" + ` rather than editing this file.
gitboot=` + shQuote(exe) + `
if [ ! -x "$gitboot" ]; then
	echo "gitboot: $gitboot not found, so this push cannot be validated; reinstall the hooks with gitboot hooks install" >&2
	exit 1
fi
exec "$gitboot" hooks pre-receive --ref ` + shQuote(ref) + args.String() + `
`
}

// postReceiveScript pokes the server once when ref was updated, and never fails.
func postReceiveScript(exe, ref, server string) string {
	return `#!/bin/sh
` + hookMarker + `
# post-receive: ask gitboot serve to apply a push to ` + ref + ` now instead of at its
# next poll. The push has already happened: this hook never fails it.
# Reinstall with ` + "`gitboot hooks install`" + ` rather than editing this file.
gitboot=` + shQuote(exe) + `
ref=` + shQuote(ref) + `
server=` + shQuote(server) + `
updated=
while read -r old new name; do
	if [ "$name" = "$ref" ]; then
		case $new in
		*[!0]*) updated=1 ;; # not a deletion (all zeros)
		esac
	fi
done
if [ -n "$updated" ]; then
	if [ -x "$gitboot" ]; then
		"$gitboot" hooks poke --server "$server" || :
	else
		echo "gitboot: $gitboot not found, so the server at $server was not told (it will notice the push within its poll interval)"
	fi
fi
exit 0
`
}

func newHooksPreReceiveCmd() *cobra.Command {
	var ref string
	var vars []string
	var sign signingFlags
	var roots rootFlags
	cmd := &cobra.Command{
		Use:    "pre-receive --ref REF [--var name=value ...] [--image-root DIR ...] [--ipxe-dir DIR ...] [--require-signed --trusted-keys FILE]",
		Short:  "Validate pushed commits (run by the pre-receive hook; reads its standard input)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			defer stop()
			return runPreReceive(ctx, cmd, ref, vars, roots, sign)
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "refs/heads/main", "the tracked branch, in full")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "input variable: --var name=value (repeatable)")
	sign.register(cmd.Flags())
	roots.register(cmd.Flags())
	return cmd
}

// runPreReceive reads the hook's "old new refname" lines and validates the
// update of ref, if there is one (with sign.require, its signature first).
// Other refs pass unchecked.
func runPreReceive(ctx context.Context, cmd *cobra.Command, ref string, vars []string, roots rootFlags, sign signingFlags) error {
	stderr := cmd.ErrOrStderr()
	sc := bufio.NewScanner(cmd.InOrStdin())
	var newID string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return fmt.Errorf("pre-receive: unexpected input line %q", sc.Text())
		}
		if fields[2] == ref {
			newID = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("pre-receive: reading input: %w", err)
	}
	if newID == "" {
		return nil
	}
	if strings.Trim(newID, "0") == "" {
		fmt.Fprintf(stderr, "gitboot: refusing to delete %s: gitboot serves this branch. Push a new commit to it instead.\n", ref)
		return exitError{1}
	}
	short := newID[:min(len(newID), 12)]
	if err := preReceiveSigned(ctx, stderr, ref, newID, sign); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gitboot-pre-receive-")
	if err != nil {
		return fmt.Errorf("pre-receive: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := exportTree(ctx, newID, tmp); err != nil {
		return fmt.Errorf("pre-receive: exporting %s: %w", short, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("pre-receive: %w", err)
	}
	args := append([]string{"validate"}, roots.args()...)
	for _, v := range vars {
		args = append(args, "--var", v)
	}
	v := exec.CommandContext(ctx, exe, append(args, ".")...)
	v.Dir = tmp       // "." keeps file names relative to the repository root
	v.Stderr = stderr // the diagnostics; stdout only says "Success!" about a temporary directory
	err = v.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "gitboot: commit %s is valid; accepting the push to %s.\n", short, ref)
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		fmt.Fprintf(stderr, "gitboot: refusing the push to %s: commit %s is not valid. Fix the errors above and push again.\n", ref, short)
		return exitError{1}
	}
	return fmt.Errorf("pre-receive: running gitboot validate: %w", err)
}

func newHooksPokeCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:    "poke [--server URL]",
		Short:  "Ask gitboot serve to reconcile now (run by the post-receive hook)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := poke(cmd.Context(), server)
			var se pokeStatusError
			switch {
			case errors.As(err, &se):
				fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: the server at %s answered POST /reconcile with %s (it will notice the push within its poll interval)\n", server, se.status)
				return exitError{1}
			case err != nil:
				fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: could not reach the server at %s (it will notice the push within its poll interval)\n", server)
				return exitError{1}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: asked the server at %s to apply the push now\n", server)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", defaultServerURL, "URL of gitboot serve")
	return cmd
}

// pokeStatusError is a server that answered, but not with 2xx.
type pokeStatusError struct{ status string }

func (e pokeStatusError) Error() string { return "POST /reconcile: " + e.status }

// poke sends POST {server}/reconcile and expects a 2xx answer.
func poke(ctx context.Context, server string) error {
	ctx, cancel := context.WithTimeout(ctx, pokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/reconcile", nil)
	if err != nil {
		return err
	}
	if err := authorize(req); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return pokeStatusError{resp.Status}
	}
	return nil
}
