package main

import (
	"errors"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/spf13/cobra"
)

func newOverlayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "overlay",
		Short: "Inspect what overlays give a node",
	}
	cmd.AddCommand(newOverlayRenderCmd())
	return cmd
}

func newOverlayRenderCmd() *cobra.Command {
	var f planFlags
	var asJSON bool
	var agent string
	cmd := &cobra.Command{
		Use:   "render NODE [PATH] [--repo R] [--ref REF] [--state DIR] [--json]",
		Short: "List the files a node gets from its overlays, or print one as rendered for it",
		Long: "Render renders NODE's system and runtime overlays from the committed tree of --ref, as the\n" +
			"server's build would, and lists every entry: which overlay it comes from, its mode, owner\n" +
			"(uid:gid) and size. Paths are as the node's archive has them: written through the links of\n" +
			"the node's image (sbin/x is usr/sbin/x on a merged-/usr image), with owner names resolved\n" +
			"in its /etc/passwd and /etc/group, as recorded by the builds in --state. An image not built\n" +
			"there yet is said so: paths are then as in the overlays and names are not resolved.\n" +
			"With PATH, prints that file's bytes as the node gets them (the runtime overlay's when both\n" +
			"have it). Age-encrypted secrets (.age files, secret \"PATH\" in templates) are never decrypted:\n" +
			"they show as (sensitive).",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.server != "" {
				return errors.New("overlay render reads the image layouts in the server's state directory: run it on the server with --state")
			}
			c := reconcile.RenderCommand{Repo: f.repo, Ref: f.ref, State: f.state, Block: f.block, Vars: f.vars,
				Require: f.signing.require, KeysFile: f.signing.keys, Roots: f.roots.roots, Agent: agent, JSON: asJSON}
			path := ""
			if len(args) == 2 {
				path = args[1]
			}
			return c.Run(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], path)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: the list of entries, or with PATH the entry and its content")
	cmd.Flags().StringVar(&agent, "agent", "", "the gitboot-agent binary to list (default: next to this executable when it is there)")
	return cmd
}
