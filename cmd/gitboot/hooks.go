package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitboot/gitboot/reconcile/githook"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

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
	ref, err := githook.FullBranchRef(f.ref)
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
	exe, err := githook.Executable()
	if err != nil {
		return err
	}
	var args []string
	for _, v := range f.vars {
		args = append(args, "--var", v)
	}
	args = append(args, f.roots.args()...)
	if keys != "" {
		args = append(args, "--require-signed", "--trusted-keys", keys)
	}
	dir, bare, err := githook.InstallBoth(f.repo, exe, ref, f.server, args, f.force)
	if err != nil {
		return err
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

// checkServerURL checks hooks install's --server.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q: expected a URL such as %s", s, defaultServerURL)
	}
	return nil
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

// runPreReceive checks the push of ref (githook.PreReceive): exit status
// 1 when it is refused.
func runPreReceive(ctx context.Context, cmd *cobra.Command, ref string, vars []string, roots rootFlags, sign signingFlags) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("pre-receive: %w", err)
	}
	validate := append([]string{exe, "validate"}, roots.args()...)
	for _, v := range vars {
		validate = append(validate, "--var", v)
	}
	check := githook.PreReceive{Ref: ref, Validate: validate, KeysFile: sign.keys, Stderr: cmd.ErrOrStderr()}
	if sign.require || sign.keys != "" {
		check.Policy = sign.policy
	}
	ok, err := check.Check(ctx, cmd.InOrStdin())
	if err == nil && !ok {
		return exitError{1}
	}
	return err
}

func newHooksPokeCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:    "poke [--server URL]",
		Short:  "Ask gitboot serve to reconcile now (run by the post-receive hook)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := githook.PokeWith(cmd.Context(), client.Long, server)
			var se githook.PokeStatusError
			switch {
			case errors.As(err, &se):
				fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: the server at %s answered POST /reconcile with %s (it will notice the push within its poll interval)\n", server, se.Status)
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
