package notes

import (
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// objectBytes is the size of the files under the repository's objects/.
func objectBytes(tb testing.TB, dir string) int64 {
	var total int64
	err := filepath.WalkDir(filepath.Join(dir, ".git", "objects"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return total
}

// BenchmarkUpdate10kNodes is one status batch of a 10,000-node site: the
// node records of one commit replaced, every node seen anew. bytes/commit
// is what one such notes commit adds to the repository (loose objects).
func BenchmarkUpdate10kNodes(b *testing.B) {
	dir, commits := newRepo(b, 1)
	n := mustOpen(b, dir)
	before := objectBytes(b, dir)
	i := 0
	for b.Loop() {
		edit := ReplaceNodes("head", nodesAt("head", 10000, t0.Add(time.Duration(i)*time.Second)))
		if err := n.Update(map[string]func([]Record) []Record{commits[0]: edit}, "status"); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(objectBytes(b, dir)-before)/float64(i), "bytes/commit")
}

// BenchmarkGrowth100Batches is 100 status batches of a 10,000-node site,
// each changing 1% of the nodes: how much the repository grows, loose and
// after `git gc`.
func BenchmarkGrowth100Batches(b *testing.B) {
	for b.Loop() {
		dir, commits := newRepo(b, 1)
		n := mustOpen(b, dir)
		before := objectBytes(b, dir)
		nodes := nodesAt("head", 10000, t0)
		for batch := range 100 {
			for j := range 100 {
				k := (batch*100 + j*97) % len(nodes)
				nodes[k] = Node("head", nodes[k].Get("name"), "KERNEL", "vmlinuz", nodes[k].Get("ip"),
					t0.Add(time.Duration(batch+1)*time.Minute), "4b1d0e2")
			}
			edit := ReplaceNodes("head", append([]Record(nil), nodes...))
			if err := n.Update(map[string]func([]Record) []Record{commits[0]: edit}, "status"); err != nil {
				b.Fatal(err)
			}
		}
		loose := objectBytes(b, dir) - before
		git(b, dir, "", "gc", "-q")
		packed := objectBytes(b, dir) - before
		note := git(b, dir, "", "cat-file", "-s", git(b, dir, "", "rev-parse", Ref+":"+commits[0]))
		size, _ := strconv.Atoi(strings.TrimSpace(note))
		b.ReportMetric(float64(loose)/1e6, "MB-loose")
		b.ReportMetric(float64(packed)/1e6, "MB-after-gc")
		b.ReportMetric(float64(size)/1e6, "MB-note")
	}
}
