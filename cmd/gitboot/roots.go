package main

import (
	"github.com/gitboot/gitboot/hclspec"
	"github.com/spf13/pflag"
)

// rootFlags are the server directories a repository may name: serve,
// plan and apply (--state), validate and the hooks take them.
type rootFlags struct {
	images, ipxe []string
	registry     registryFlags
}

func (f *rootFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.images, "image-root", []string{hclspec.DefaultImageRoot},
		"a directory image sources may lie in, after symlinks and .. are resolved (repeatable; the server's, never the repository's)")
	fl.StringArrayVar(&f.ipxe, "ipxe-dir", []string{hclspec.DefaultIPXEDir},
		"a directory ipxe_dir may name, where the iPXE binaries are (repeatable)")
	f.registry.register(fl)
}

// roots returns the allowed directories, made absolute.
func (f *rootFlags) roots() (hclspec.Roots, error) {
	if err := f.registry.apply(); err != nil {
		return hclspec.Roots{}, err
	}
	return hclspec.AbsRoots(f.images, f.ipxe)
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
