package hclspec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// loadBoth loads src once split into parallel chunks and once whole, and
// returns both results.
func loadBoth(t *testing.T, src string) (par, ser *Cluster, pd, sd hcl.Diagnostics, pp *hclparse.Parser) {
	t.Helper()
	fsys := mapFS(map[string]string{"main.hcl": src})
	pp = hclparse.NewParser()
	par, pd = Load(fsys, Options{Parser: pp})
	old := parallelParseMin
	parallelParseMin = 1 << 40
	defer func() { parallelParseMin = old }()
	ser, sd = Load(fsys, Options{})
	return par, ser, pd, sd, pp
}

// TestParallelParseSameResult: a large file parsed in chunks gives the same
// cluster, with the same source ranges, as a whole-file parse.
func TestParallelParseSameResult(t *testing.T) {
	src := generated(5000, false)
	if len(src) < parallelParseMin {
		t.Fatalf("test file of %d bytes is too small to be split", len(src))
	}
	par, ser, pd, sd, _ := loadBoth(t, src)
	if pd.HasErrors() || sd.HasErrors() {
		t.Fatalf("errors: %v / %v", pd, sd)
	}
	if par.Hash != ser.Hash || len(par.Nodes) != 5000 {
		t.Fatalf("chunked parse gave %d nodes, hash %s; whole parse hash %s", len(par.Nodes), par.Hash, ser.Hash)
	}
	for i, n := range par.Nodes {
		m := ser.Nodes[i]
		if n.Range != m.Range || n.Origins["ip"] != m.Origins["ip"] || n.Origins["mac"] != m.Origins["mac"] {
			t.Fatalf("node %s: ranges differ: %v %v vs %v %v", n.Name, n.Range, n.Origins["ip"], m.Range, m.Origins["ip"])
		}
	}
}

// TestParallelParseDiagnostics: errors read the same whether or not the
// file was split, and the snippet source is there for every diagnostic.
func TestParallelParseDiagnostics(t *testing.T) {
	base := generated(5000, false)
	cases := map[string]string{
		// A validation error deep in the file (a chunked parse succeeds).
		"duplicate_ip": strings.Replace(base, fmt.Sprintf("ip       = %q", ipFor(4000)), fmt.Sprintf("ip       = %q", ipFor(10)), 1),
		// A syntax error deep in the file (a chunk fails: whole-file parse).
		"syntax": strings.Replace(base, fmt.Sprintf("mac      = %q", macFor(4200)), "mac      = ", 1),
		// A brace inside a heredoc that looks like a block end.
		"heredoc": base + "\nlocals {\n  motd = <<EOT\nhello\n}\nnode \"x\" {\nEOT\n}\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, pd, sd, pp := loadBoth(t, src)
			if pd.Error() != sd.Error() {
				t.Errorf("diagnostics differ:\nchunked: %v\nwhole:   %v", pd, sd)
			}
			for _, d := range pd {
				if d.Subject == nil {
					continue
				}
				f := pp.Files()[d.Subject.Filename]
				if f == nil || len(f.Bytes) != len(src) {
					t.Errorf("no whole source kept for %s", d.Subject.Filename)
				}
			}
			if name != "heredoc" && !pd.HasErrors() {
				t.Error("expected an error")
			}
		})
	}
}
