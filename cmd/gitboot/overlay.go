package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
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
			r, err := renderNode(cmd, f, args[0], agent)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !r.Placed {
				fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: image %s was not built in %s: paths are as in the overlays, owner names are not resolved.\n", r.Image, f.state)
			}
			if len(args) == 2 {
				data, rf, ok := r.Content(args[1])
				if !ok {
					return fmt.Errorf("node %s gets no file %s from its overlays", r.Node, args[1])
				}
				if asJSON {
					return writeJSON(w, struct {
						artifact.RenderedFile
						Content string `json:"content"`
					}{rf, string(data)})
				}
				_, err := w.Write(data)
				return err
			}
			if asJSON {
				return writeJSON(w, r.Files)
			}
			return writeRenderTable(w, r.Files)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: the list of entries, or with PATH the entry and its content")
	cmd.Flags().StringVar(&agent, "agent", "", "the gitboot-agent binary to list (default: next to this executable when it is there)")
	return cmd
}

// renderNode loads --ref of --repo and renders node's overlays.
func renderNode(cmd *cobra.Command, f planFlags, node, agent string) (*artifact.NodeRender, error) {
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return nil, err
	}
	src, err := gitsrc.Open(f.repo)
	if err != nil {
		return nil, err
	}
	ref := f.ref
	if policy, err := f.signing.policy(); err != nil {
		return nil, err
	} else if policy != nil {
		if ref, err = checkSigned(cmd, src, policy, f.ref, "render "+f.ref+" of "+f.repo); err != nil {
			return nil, err
		}
	}
	commit, err := src.Resolve(ref)
	if err != nil {
		return nil, err
	}
	roots, err := f.roots.roots()
	if err != nil {
		return nil, err
	}
	c, srv, err := reconcile.Load(commit, opts.Vars, f.block, roots)
	if err != nil {
		return nil, configErr(cmd.ErrOrStderr(), err, f.repo, ".")
	}
	if agent == "" {
		if p, err := artifact.DefaultAgent(); err == nil {
			if _, err := os.Stat(p); err == nil {
				agent = p
			}
		}
	}
	return artifact.Render(f.state, c, srv.Name, node, agent)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeRenderTable prints entries as a table: kind, type, mode, owner,
// size, overlay, path.
func writeRenderTable(w io.Writer, files []artifact.RenderedFile) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTYPE\tMODE\tOWNER\tSIZE\tOVERLAY\tPATH")
	for _, f := range files {
		ov, p := f.Overlay, "/"+f.Path
		if ov == "" {
			ov = "-"
		}
		if f.Type == "link" {
			p += " -> " + f.Link
		}
		size := strconv.FormatInt(f.Size, 10)
		if f.Sensitive {
			size = artifact.SensitiveValue
		}
		fmt.Fprintf(tw, "%s\t%s\t%04o\t%d:%d\t%s\t%s\t%s\n", f.Kind, f.Type, f.Mode, f.UID, f.GID, size, ov, p)
	}
	return tw.Flush()
}
