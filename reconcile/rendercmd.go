package reconcile

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// RenderCommand is `gitboot overlay render`: a node's overlays rendered
// from the committed tree of Ref of Repo, as the server's build in State
// would.
type RenderCommand struct {
	Repo, Ref, State string
	Block            string   // server block ("": the only one)
	Vars             []string // --var name=value
	Require          bool     // --require-signed
	KeysFile         string   // --trusted-keys
	Roots            func() (hclspec.Roots, error)
	Agent            string // the gitboot-agent binary ("": next to this executable when it is there)
	JSON             bool
}

// Run lists node's entries or, with path (not ""), prints that file as
// the node gets it.
func (c RenderCommand) Run(out, errOut io.Writer, node, path string) error {
	r, err := c.render(errOut, node)
	if err != nil {
		return err
	}
	if !r.Placed {
		fmt.Fprintf(errOut, "gitboot: image %s was not built in %s: paths are as in the overlays, owner names are not resolved.\n", r.Image, c.State)
	}
	if path != "" {
		data, rf, ok := r.Content(path)
		if !ok {
			return fmt.Errorf("node %s gets no file %s from its overlays", r.Node, path)
		}
		if c.JSON {
			return clio.WriteJSON(out, struct {
				artifact.RenderedFile
				Content string `json:"content"`
			}{rf, string(data)})
		}
		_, err := out.Write(data)
		return err
	}
	if c.JSON {
		return clio.WriteJSON(out, r.Files)
	}
	return writeRenderTable(out, r.Files)
}

// render loads Ref of Repo and renders node's overlays.
func (c RenderCommand) render(errOut io.Writer, node string) (*artifact.NodeRender, error) {
	opts, err := hclspec.OptionsFor(".", c.Vars)
	if err != nil {
		return nil, err
	}
	src, err := gitsrc.Open(c.Repo)
	if err != nil {
		return nil, err
	}
	ref := c.Ref
	if policy, err := gitsrc.FlagPolicy(c.Require, c.KeysFile); err != nil {
		return nil, err
	} else if policy != nil {
		if ref, err = src.CheckSigned(errOut, policy, c.Ref, "render "+c.Ref+" of "+c.Repo); err != nil {
			return nil, err
		}
	}
	commit, err := src.Resolve(ref)
	if err != nil {
		return nil, err
	}
	roots, err := c.Roots()
	if err != nil {
		return nil, err
	}
	cl, srv, err := Load(commit, opts.Vars, c.Block, roots)
	if err != nil {
		return nil, ReportConfigError(errOut, err, c.Repo, ".")
	}
	agent := c.Agent
	if agent == "" {
		if p, err := artifact.DefaultAgent(); err == nil {
			if _, err := os.Stat(p); err == nil {
				agent = p
			}
		}
	}
	return artifact.Render(c.State, cl, srv.Name, node, agent)
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
