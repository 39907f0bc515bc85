package artifact

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
)

// checkFS is repoFS with the overlays only Check's tests use.
func checkFS() fstest.MapFS {
	m := repoFS()
	m["overlays/fifo/run/pipe"] = &fstest.MapFile{Mode: fs.ModeNamedPipe | 0o644}
	m["overlays/bigfile/srv/blob"] = &fstest.MapFile{Data: make([]byte, MaxOverlayFile+1), Mode: 0o644}
	m["overlays/perserver/etc/s.tmpl"] = &fstest.MapFile{Data: []byte("{{if eq .Server.Name \"b\"}}\n{{fail \"not on b\"}}{{end}}\n"), Mode: 0o644}
	return m
}

// checkCluster is a cluster whose nodes use the named runtime overlays,
// declaring only those (Check loads every declared overlay).
func checkCluster(t *testing.T, runtime ...string) *testCluster {
	tc := overlayCluster(t, []string{"generic"}, runtime, 3)
	tc.fs = checkFS()
	var ovs []*hclspec.Overlay
	for _, name := range append([]string{"generic"}, runtime...) {
		ovs = append(ovs, &hclspec.Overlay{Name: name, Source: "overlays/" + name})
	}
	tc.overlays = ovs
	return tc
}

// TestCheckAgreesWithBuild: for each repository problem the build refuses
// with a RepoError, Check reports an error at the file (and line) that
// causes it; what Check accepts, the build builds.
func TestCheckAgreesWithBuild(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	for _, c := range []struct {
		name     string
		runtime  []string
		file     string // "" when none: the diagnostic is at the overlay's block
		line     int
		summary  string
		contains string
	}{
		{"parse error", []string{"badparse"}, "overlays/badparse/etc/x.tmpl", 3, "Overlay template error", "unclosed action"},
		{"unknown field", []string{"badexec"}, "overlays/badexec/etc/y.tmpl", 3, "Overlay template error", "can't evaluate field Nope"},
		{"index out of range", []string{"badindex"}, "overlays/badindex/etc/z.tmpl", 1, "Overlay template error", "out of range"},
		{"define and template", []string{"recursive"}, "overlays/recursive/etc/r.tmpl", 1, "Overlay template error", "not allowed"},
		{"range over a number", []string{"rangeint"}, "overlays/rangeint/etc/r.tmpl", 1, "Overlay template error", "range over a number"},
		{"range over a variable number", []string{"rangevar"}, "overlays/rangevar/etc/r.tmpl", 2, "Overlay template error", "range over a number"},
		{"output cap", []string{"huge"}, "overlays/huge/etc/h.tmpl", 1, "Overlay template error", "larger than 64 MiB"},
		{"unknown function", []string{"readfile"}, "overlays/readfile/etc/f.tmpl", 1, "Overlay template error", `"readFile" not defined`},
		{"two files write one name", []string{"conflict"}, "overlays/conflict/etc/a.tmpl", 1, "Overlay error", "both write etc/a"},
		{"unsupported file type", []string{"fifo"}, "overlays/fifo/run/pipe", 1, "Overlay error", "unsupported file type"},
		{"missing directory", []string{"missing"}, "", 0, "Overlay error", "overlays/missing"},
		{"file too large", []string{"bigfile"}, "overlays/bigfile/srv/blob", 1, "Overlay error", "at most 64 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := checkCluster(t, c.runtime...).build()
			_, err := b.Build(context.Background(), cl, "")
			var re *RepoError
			if !errors.As(err, &re) {
				t.Fatalf("build: %v, want a RepoError", err)
			}
			diags := Check(cl, "")
			if len(diags) != 1 || diags[0].Severity != hcl.DiagError {
				t.Fatalf("Check: %d diagnostics, want one error: %v\n(build: %v)", len(diags), diags, err)
			}
			d := diags[0]
			if d.Summary != c.summary || !strings.Contains(d.Detail, c.contains) {
				t.Errorf("Check: %s: %s; want %s containing %q", d.Summary, d.Detail, c.summary, c.contains)
			}
			switch {
			case c.file == "" && d.Subject != nil && d.Subject.Filename != "":
				t.Errorf("Check: at %s, want the overlay block", d.Subject)
			case c.file != "" && (d.Subject == nil || d.Subject.Filename != c.file || d.Subject.Start.Line != c.line):
				t.Errorf("Check: at %v, want %s:%d", d.Subject, c.file, c.line)
			}
		})
	}
}

func TestCheckGood(t *testing.T) {
	tc := overlayCluster(t, []string{"generic", "hosts", "hostname", "override", "nodedep"}, []string{"secrets", "shared", "same"}, 50)
	tc.overlays = tc.overlays[:8]
	if diags := Check(tc.build(), ""); len(diags) != 0 {
		t.Fatalf("Check: %v", diags)
	}
	mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
}

// TestCheckReportsOnce: a template that fails for every node is one
// diagnostic, naming the first node and how many fail.
func TestCheckReportsOnce(t *testing.T) {
	tc := checkCluster(t, "badindex")
	diags := Check(tc.build(), "")
	if len(diags) != 1 {
		t.Fatalf("%d diagnostics: %v", len(diags), diags)
	}
	if d := diags[0].Detail; !strings.HasPrefix(d, "node n00000: ") || !strings.Contains(d, "(3 nodes in all)") {
		t.Errorf("detail %q", d)
	}
}

// TestCheckEveryServer: with no server named, templates are rendered for
// each server block, as each server's build would.
func TestCheckEveryServer(t *testing.T) {
	tc := checkCluster(t, "perserver")
	one := tc.build()
	if diags := Check(one, ""); len(diags) != 0 {
		t.Fatalf("server head: %v", diags)
	}
	var servers []*hclspec.Server
	for _, name := range []string{"a", "b"} {
		s := *one.Servers[0]
		s.Name = name
		servers = append(servers, &s)
	}
	two := hclspec.NewCluster(one.FS, servers, one.Networks, one.Images, one.Overlays, nil, one.Nodes)
	diags := Check(two, "")
	if len(diags) != 1 || diags[0].Subject == nil || diags[0].Subject.Filename != "overlays/perserver/etc/s.tmpl" || diags[0].Subject.Start.Line != 2 {
		t.Fatalf("two servers: %v", diags)
	}
	if diags := Check(two, "a"); len(diags) != 0 {
		t.Errorf("server a: %v", diags)
	}
	if diags := Check(two, "c"); len(diags) != 1 || !strings.Contains(diags[0].Detail, `no server block named "c" (declared: a, b)`) {
		t.Errorf("unknown server: %v", diags)
	}
}

func TestCheckNodeWithoutImage(t *testing.T) {
	tc := checkCluster(t)
	tc.nodes[1].Image = ""
	diags := Check(tc.build(), "")
	if len(diags) != 1 || diags[0].Summary != "Node without image" || !strings.Contains(diags[0].Detail, `"n00001"`) {
		t.Fatalf("%v", diags)
	}
}

func TestTemplatePos(t *testing.T) {
	for _, c := range []struct {
		msg       string
		line, col int
	}{
		{"template: a/b.tmpl:3: unexpected EOF", 3, 0},
		{`template: a/b.tmpl:3:17: executing "a/b.tmpl" at <.Node.X>: can't evaluate`, 3, 17},
		{"template: a/b.tmpl: output larger than 64 MiB", 0, 0},
		{"template: other.tmpl:3: x", 0, 0},
		{"overlay x: not a template", 0, 0},
	} {
		if l, col := templatePos("a/b.tmpl", c.msg); l != c.line || col != c.col {
			t.Errorf("%q: %d:%d, want %d:%d", c.msg, l, col, c.line, c.col)
		}
	}
}

func BenchmarkCheck1000(b *testing.B) {
	tc := overlayCluster(b, []string{"generic", "hosts", "hostname", "nodedep"}, []string{"secrets", "shared"}, 1000)
	tc.overlays = tc.overlays[:8]
	c := tc.build()
	for b.Loop() {
		if diags := Check(c, ""); len(diags) != 0 {
			b.Fatal(fmt.Sprint(diags))
		}
	}
}
