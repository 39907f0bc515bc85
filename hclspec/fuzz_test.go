package hclspec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
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
		// Differential: splitting the file into chunks parsed in parallel
		// must not change the result.
		old := parallelParseMin
		parallelParseMin = 1
		c2, diags2 := Load(fsys, Options{})
		parallelParseMin = old
		// (Details are compared loosely: HCL's own did-you-mean picks among
		// equally close function names in map order.)
		if diagKeys(diags) != diagKeys(diags2) || (c == nil) != (c2 == nil) || (c != nil && c.Hash != c2.Hash) {
			t.Fatalf("chunked parse differs:\nwhole:   %v\nchunked: %v", diags, diags2)
		}
	})
}

// diagKeys summarises diagnostics by severity, summary and range, sorted
// (HCL reports some sets of errors in map order).
func diagKeys(diags hcl.Diagnostics) string {
	keys := make([]string, 0, len(diags))
	for _, d := range diags {
		keys = append(keys, fmt.Sprintf("%d %s %v", d.Severity, d.Summary, d.Subject))
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}
