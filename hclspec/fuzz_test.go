package hclspec

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes as a repository's main.hcl (next to a
// small MAC file and an overlay directory). Load must return a cluster or
// diagnostics, never panic or hang.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(baseHCL))
	f.Add([]byte(generated(3, true)))
	f.Add([]byte(generated(3, false)))
	seeds, _ := filepath.Glob("testdata/invalid/*/main.hcl")
	examples, _ := filepath.Glob("../examples/*/*.hcl")
	for _, p := range append(seeds, examples...) {
		if src, err := os.ReadFile(p); err == nil && len(src) < 64<<10 {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{
			"main.hcl":                  {Data: src},
			"nodes.macs":                {Data: []byte(macFile(3))},
			"overlays/generic/etc/motd": {Data: []byte("hi\n")},
		}
		c, diags := Load(fsys, Options{})
		if c == nil && !diags.HasErrors() {
			t.Fatal("no cluster and no error")
		}
		if c != nil && diags.HasErrors() {
			t.Fatal("a cluster returned together with errors")
		}
	})
}
