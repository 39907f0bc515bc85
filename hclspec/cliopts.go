package hclspec

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// OptionsFor makes the options the CLI loads a repository directory with:
// vars are "name=value" (--var), file names in diagnostics are prefixed
// with dir as given, and a parser keeps the sources for snippets.
func OptionsFor(dir string, vars []string) (Options, error) {
	opts := Options{Vars: map[string]string{}, Parser: hclparse.NewParser()}
	if clean := filepath.Clean(dir); clean != "." {
		opts.FilePrefix = filepath.ToSlash(clean)
	}
	for _, kv := range vars {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return opts, fmt.Errorf("--var %q: expected name=value", kv)
		}
		opts.Vars[name] = value
	}
	return opts, nil
}

// AbsRoots makes the server's allowed directories (--image-root,
// --ipxe-dir) absolute; an empty one is an error.
func AbsRoots(images, ipxe []string) (Roots, error) {
	var r Roots
	var err error
	if r.Images, err = absDirs("image-root", images); err != nil {
		return r, err
	}
	r.IPXE, err = absDirs("ipxe-dir", ipxe)
	return r, err
}

func absDirs(flag string, dirs []string) ([]string, error) {
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
