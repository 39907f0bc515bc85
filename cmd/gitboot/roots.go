package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/spf13/pflag"
)

// rootFlags are the server directories a repository may name: serve,
// plan and apply (--state), validate and the hooks take them.
type rootFlags struct {
	images, ipxe []string
}

func (f *rootFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.images, "image-root", []string{hclspec.DefaultImageRoot},
		"a directory image sources may lie in, after symlinks and .. are resolved (repeatable; the server's, never the repository's)")
	fl.StringArrayVar(&f.ipxe, "ipxe-dir", []string{hclspec.DefaultIPXEDir},
		"a directory ipxe_dir may name, where the iPXE binaries are (repeatable)")
}

// roots returns the allowed directories, made absolute.
func (f *rootFlags) roots() (hclspec.Roots, error) {
	abs := func(flag string, dirs []string) ([]string, error) {
		out := make([]string, 0, len(dirs))
		for _, d := range dirs {
			if d == "" {
				return nil, fmt.Errorf("--%s: empty directory", flag)
			}
			a, err := filepath.Abs(d)
			if err != nil {
				return nil, fmt.Errorf("--%s %s: %w", flag, d, err)
			}
			out = append(out, a)
		}
		return out, nil
	}
	var r hclspec.Roots
	var err error
	if r.Images, err = abs("image-root", f.images); err != nil {
		return r, err
	}
	if r.IPXE, err = abs("ipxe-dir", f.ipxe); err != nil {
		return r, err
	}
	return r, nil
}

// args returns the flags that give a child command (validate, run by the
// pre-receive hook) the same roots.
func (f *rootFlags) args() []string {
	var out []string
	for _, d := range f.images {
		out = append(out, "--image-root", d)
	}
	for _, d := range f.ipxe {
		out = append(out, "--ipxe-dir", d)
	}
	return out
}

// checkPathHandler answers GET /check-path from the server's roots.
func checkPathHandler(roots hclspec.Roots) func(kind, path string) (bool, []string) {
	return func(kind, path string) (bool, []string) {
		if kind == "ipxe_dir" {
			return roots.CheckIPXEDir(path) == nil, roots.IPXE
		}
		return roots.CheckImageSource(path) == nil, roots.Images
	}
}

// remoteRoots checks paths with a running server (GET /check-path), where
// the files are: plan --server.
type remoteRoots struct {
	ctx  context.Context
	base string
}

func (r remoteRoots) CheckImageSource(p string) error { return r.check("image", "--image-root", p) }
func (r remoteRoots) CheckIPXEDir(p string) error     { return r.check("ipxe_dir", "--ipxe-dir", p) }

func (r remoteRoots) check(kind, flag, p string) error {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	u := r.base + "/check-path?" + url.Values{kind: {p}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if err := authorize(req); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s cannot be checked by the server: %w", p, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s cannot be checked by the server: %w", p, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s cannot be checked by the server: GET /check-path: %s: %s", p, resp.Status, strings.TrimSpace(string(body)))
	}
	var a httpboot.CheckPathAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("%s cannot be checked by the server: GET /check-path: %w", p, err)
	}
	if a.Path != p || a.Kind != kind {
		return errors.New("GET /check-path answered for another path")
	}
	if !a.Allowed {
		return &hclspec.OutsideError{Path: p, Resolved: p, Roots: a.Roots, Flag: flag}
	}
	return nil
}
