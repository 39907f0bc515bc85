package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/gitboot/gitboot/reconcile/githook"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
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
	if _, err := loadOptions(".", f.vars); err != nil {
		return err
	}
	roots, err := f.roots.roots()
	if err != nil {
		return err
	}
	// The hook names the roots by absolute path.
	f.roots = rootFlags{images: roots.Images, ipxe: roots.IPXE}
	s := githook.Setup{Repo: f.repo, Ref: f.ref, Server: f.server, ExampleServer: defaultServerURL, Force: f.force,
		Args: append(varArgs(f.vars), f.roots.args()...)}
	if policy, err := f.signing.policy(); err != nil { // read now, so a bad keys file is reported here
		return err
	} else if policy != nil {
		if s.KeysFile, err = f.signing.absKeys(); err != nil {
			return err
		}
	}
	return s.Run(cmd.OutOrStdout())
}

// varArgs gives a child command the --var flags vars.
func varArgs(vars []string) []string {
	var args []string
	for _, v := range vars {
		args = append(args, "--var", v)
	}
	return args
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
			var policy func() (*gitsrc.Policy, error)
			if sign.require || sign.keys != "" {
				policy = sign.policy
			}
			return githook.RunPreReceive(ctx, cmd.InOrStdin(), cmd.ErrOrStderr(), ref,
				append(roots.args(), varArgs(vars)...), sign.keys, policy)
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "refs/heads/main", "the tracked branch, in full")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "input variable: --var name=value (repeatable)")
	sign.register(cmd.Flags())
	roots.register(cmd.Flags())
	return cmd
}

func newHooksPokeCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:    "poke [--server URL]",
		Short:  "Ask gitboot serve to reconcile now (run by the post-receive hook)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return githook.RunPoke(cmd.Context(), client.Long, server, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&server, "server", defaultServerURL, "URL of gitboot serve")
	return cmd
}
