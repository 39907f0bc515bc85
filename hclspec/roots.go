package hclspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// DefaultImageRoot is the directory image sources may lie under when the
// server's operator names none (gitboot serve --image-root).
const DefaultImageRoot = "/var/lib/gitboot/images"

// Roots are the directories of the server that a repository may name: an
// image source must lie under one of Images, an ipxe_dir under one of
// IPXE (each after symlinks and ".." are resolved). They are the server
// operator's to set, on the command line, never in git: a push must not
// make the server publish its own files.
type Roots struct {
	Images []string
	IPXE   []string
}

// DefaultRoots are the roots of a server started without --image-root and
// --ipxe-dir.
func DefaultRoots() Roots {
	return Roots{Images: []string{DefaultImageRoot}, IPXE: []string{DefaultIPXEDir}}
}

// PathChecker decides whether a server path named by a repository is
// allowed. Roots checks on this machine; cmd/gitboot's plan --server asks
// the running server instead (GET /check-path), because symlinks must be
// resolved where the files are.
type PathChecker interface {
	CheckImageSource(p string) error
	CheckIPXEDir(p string) error
}

// OutsideError is a path that resolves outside every allowed root.
type OutsideError struct {
	Path     string   // as the repository names it
	Resolved string   // after symlinks and ".."
	Roots    []string // the allowed roots
	Flag     string   // the server flag that sets them
}

func (e *OutsideError) Error() string {
	resolved := ""
	if e.Resolved != e.Path {
		resolved = " resolves to " + e.Resolved + ", which"
	}
	return fmt.Sprintf("%s%s is not inside a directory the server allows (%s %s)", e.Path, resolved, e.Flag, strings.Join(e.Roots, ", "+e.Flag+" "))
}

// CheckImageSource reports an image source outside r.Images. A registry
// source (oci://) names no server path: the server's registry
// configuration (--registry-config) decides what it can pull.
func (r Roots) CheckImageSource(p string) error {
	if IsRegistrySource(p) {
		return nil
	}
	return within(p, r.Images, "--image-root")
}

// CheckIPXEDir reports an ipxe_dir outside r.IPXE.
func (r Roots) CheckIPXEDir(p string) error { return within(p, r.IPXE, "--ipxe-dir") }

func within(p string, roots []string, flag string) error {
	resolved, err := ResolvePath(p)
	if err != nil {
		return fmt.Errorf("%s cannot be resolved: %w", p, err)
	}
	for _, root := range roots {
		rr, err := ResolvePath(root)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(rr, resolved); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return nil
		}
	}
	return &OutsideError{Path: p, Resolved: resolved, Roots: roots, Flag: flag}
}

// ResolvePath returns the absolute path p names on this machine, the way
// the kernel would walk it: symbolic links followed and ".." applied to
// where they lead, component by component (so "root/link/.." is the
// parent of the link's target, not root). A part of p that does not exist
// yet is appended as written; a ".." in that part is refused, since
// nothing can be walked through a directory that is not there.
func ResolvePath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if !filepath.IsAbs(p) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		// Not filepath.Join: it would apply ".." before symlinks are seen.
		p = wd + string(filepath.Separator) + p
	}
	prefix, rest := p, ""
	for {
		r, err := filepath.EvalSymlinks(prefix)
		if err == nil {
			if rest == "" {
				return r, nil
			}
			if slices.Contains(strings.Split(rest, string(filepath.Separator)), "..") {
				return "", fmt.Errorf(`".." after %s, which does not exist`, filepath.Join(r, strings.SplitN(rest, string(filepath.Separator), 2)[0]))
			}
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		trimmed := strings.TrimRight(prefix, string(filepath.Separator))
		i := strings.LastIndexByte(trimmed, filepath.Separator)
		if i < 0 {
			return "", err
		}
		if last := trimmed[i+1:]; last != "" {
			if rest == "" {
				rest = last
			} else {
				rest = last + string(filepath.Separator) + rest
			}
		}
		prefix = trimmed[:i+1]
	}
}

// CheckRoots checks the server paths the repository names against what the
// server allows: the ipxe_dir of srv and the source of every image a node
// served by srv boots. srv nil checks every server block and every image
// (the pre-receive hook, which serves no one block). Each path outside is
// an error at its attribute.
func CheckRoots(c *Cluster, srv *Server, pc PathChecker) hcl.Diagnostics {
	var diags hcl.Diagnostics
	servers := c.Servers
	if srv != nil {
		servers = []*Server{srv}
	}
	for _, s := range servers {
		err := pc.CheckIPXEDir(s.IPXEDir)
		if err == nil {
			continue
		}
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "ipxe_dir outside the server's iPXE directories",
			Detail: fmt.Sprintf("server %q: ipxe_dir %s. The repository cannot widen this: the server's operator sets it with gitboot serve --ipxe-dir.", s.Name, err)}
		if s.ipxeDirRange.Filename != "" {
			d.Subject = s.ipxeDirRange.Ptr()
		} else {
			r := s.Range
			d.Subject = &r
			d.Detail = fmt.Sprintf("server %q sets no ipxe_dir, and its default %s. Set ipxe_dir to a directory the server allows (gitboot serve --ipxe-dir).", s.Name, err)
		}
		diags = append(diags, d)
	}
	for _, img := range c.Images {
		if srv != nil && !servesImage(c, srv, img.Name) {
			continue
		}
		if err := pc.CheckImageSource(img.Source); err != nil {
			r := img.sourceRange
			if r.Filename == "" {
				r = img.Range
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Image source outside the server's image roots",
				Detail:  fmt.Sprintf("image %q: source %s. The repository cannot widen this: the server's operator sets the image roots with gitboot serve --image-root.", img.Name, err),
				Subject: &r})
		}
	}
	return diags
}

// servesImage reports whether a node served by srv boots image name (a
// server with no networks listed serves every node).
func servesImage(c *Cluster, srv *Server, name string) bool {
	for _, n := range c.Nodes {
		if n.Image == name && (len(srv.Networks) == 0 || slices.Contains(srv.Networks, n.Network)) {
			return true
		}
	}
	return false
}
