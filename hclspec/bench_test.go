package hclspec

import (
	"os"
	"testing"
	"testing/fstest"
)

// BenchmarkLoad measures loading, merging and validating whole
// repositories: the 1,000-node example site and generated 10,000-node
// repositories written as literal node blocks and as one for_each.
func BenchmarkLoad(b *testing.B) {
	cases := []struct {
		name string
		fsys func() fstest.MapFS
	}{
		{"literal10k", func() fstest.MapFS { return mapFS(map[string]string{"main.hcl": generated(10_000, false)}) }},
		{"foreach10k", func() fstest.MapFS {
			return mapFS(map[string]string{"main.hcl": generated(10_000, true), "nodes.macs": macFile(10_000)})
		}},
	}
	for _, tc := range cases {
		fsys := tc.fsys()
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, diags := Load(fsys, Options{})
				if diags.HasErrors() || len(c.Nodes) != 10_000 {
					b.Fatalf("load: %d nodes, %s", len(c.Nodes), diags.Error())
				}
			}
		})
	}
	b.Run("site1000", func(b *testing.B) {
		root, err := os.OpenRoot("../examples/site1000")
		if err != nil {
			b.Skip("examples/site1000 not present")
		}
		defer root.Close()
		b.ReportAllocs()
		for b.Loop() {
			c, diags := Load(root.FS(), Options{})
			if diags.HasErrors() || len(c.Nodes) < 1000 {
				b.Fatalf("load site1000: %s", diags.Error())
			}
		}
	})
}
