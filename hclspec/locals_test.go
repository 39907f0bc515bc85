package hclspec

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
)

// generatedLocals returns a repository of n locals spread over `files`
// files of one locals block each, declared in reverse dependency order (each
// refers to locals declared after it, often in another file): a loader that
// evaluated in file order, or retried, would do the most work here. Local
// lN is a number: l0 = 0, each odd lN = local.l(N-1) + 1, each even lN
// (N>0) = (local.l(N/2) + local.l(N-1)) % 1000003 (so the chain fans in),
// and every tenth is a string built from the one before. A node's tag shows
// local.last, the last local's value.
func generatedLocals(n, files int) fstest.MapFS {
	bodies := make([]strings.Builder, files)
	for i := n - 1; i >= 0; i-- {
		b := &bodies[i*files/n]
		switch {
		case i == 0:
			fmt.Fprintf(b, "  l0 = 0\n")
		case i%10 == 0:
			fmt.Fprintf(b, "  l%d = \"${local.l%d}\"\n", i, i-1)
		case i%2 == 1:
			fmt.Fprintf(b, "  l%d = local.l%d + 1\n", i, i-1)
		default:
			fmt.Fprintf(b, "  l%d = (local.l%d + local.l%d) %% 1000003\n", i, i/2, i-1)
		}
	}
	m := map[string]string{"main.hcl": baseHCL + fmt.Sprintf(`
locals {
  last = tostring(local.l%d)
}

node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  tags  = { last = local.last }
}
`, n-1)}
	for f := range files {
		// Files sort in reverse: the file holding the first locals is read last.
		m[fmt.Sprintf("locals_%03d.hcl", files-f)] = "locals {\n" + bodies[f].String() + "}\n"
	}
	return mapFS(m)
}

// localsValue computes what generatedLocals' last local holds.
func localsValue(n int) string {
	v := make([]int64, n)
	for i := 1; i < n; i++ {
		switch {
		case i%10 == 0:
			v[i] = v[i-1]
		case i%2 == 1:
			v[i] = v[i-1] + 1
		default:
			v[i] = (v[i/2] + v[i-1]) % 1000003
		}
	}
	return fmt.Sprint(v[n-1])
}

func TestLocalsDependencyOrder(t *testing.T) {
	// Declared in reverse, spread over files: each refers to later ones.
	for _, n := range []int{2, 50, 1000} {
		c := mustLoad(t, generatedLocals(n, 4), Options{})
		node, _ := c.Node("c001")
		if got, want := node.Tags["last"], localsValue(n); got != want {
			t.Errorf("%d locals: local.last = %q, want %q", n, got, want)
		}
	}
}

// TestLocalsFanIn has one local refer to thousands of others (and each
// of them twice): its references are collected once each.
func TestLocalsFanIn(t *testing.T) {
	const n = 3000
	var b strings.Builder
	b.WriteString("locals {\n  all = length(concat([")
	for i := range n {
		fmt.Fprintf(&b, "local.f%d, local.f%d, ", i, i)
	}
	b.WriteString("]))\n")
	for i := range n {
		fmt.Fprintf(&b, "  f%d = %d\n", i, i)
	}
	b.WriteString("}\n")
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + `
node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  tags  = { all = tostring(local.all) }
}
`, "locals.hcl": b.String()}), Options{})
	if node, _ := c.Node("c001"); node.Tags["all"] != fmt.Sprint(2*n) {
		t.Errorf("local.all = %q, want %d", node.Tags["all"], 2*n)
	}
}

// TestLocalsFortyThousand loads 40,000 locals (the case that took
// 326 s when each local was evaluated against all the others);
// BenchmarkLocals measures the time.
func TestLocalsFortyThousand(t *testing.T) {
	const n = 40_000
	c := mustLoad(t, generatedLocals(n, 8), Options{})
	node, _ := c.Node("c001")
	if got, want := node.Tags["last"], localsValue(n); got != want {
		t.Errorf("local.last = %q, want %q", got, want)
	}
}

// errorLines renders each error diagnostic as "file:line:col: summary:
// detail".
func errorLines(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := "-"
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		out = append(out, fmt.Sprintf("%s: %s: %s", loc, d.Summary, d.Detail))
	}
	return out
}

func TestLocalsErrors(t *testing.T) {
	node := `
node "c001" {
  mac   = "52:54:00:00:00:01"
  ip    = "10.99.0.11"
  image = image.rocky9
  tags  = { a = tostring(local.ok) }
}
`
	for _, tc := range append(localsCycleErrors(), localsReferenceErrors()...) {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"main.hcl": baseHCL + node}
			for k, v := range tc.files {
				files[k] = v
			}
			c, diags := Load(mapFS(files), Options{})
			if c != nil {
				t.Fatal("Load returned a cluster despite errors")
			}
			got := errorLines(diags)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// localsErrorCase is a repository with errors in its locals and every
// error it gives, in order.
type localsErrorCase struct {
	name  string
	files map[string]string
	want  []string // every error, in order
}

// localsCycleErrors: locals that refer to each other, in one file or
// across files.
func localsCycleErrors() []localsErrorCase {
	return []localsErrorCase{{
		name:  "self reference",
		files: map[string]string{"l.hcl": "locals {\n  ok = 1\n  a  = local.a\n}\n"},
		want:  []string{"l.hcl:3:8: Cycle in local values: These locals refer to each other: local.a -> local.a."},
	}, {
		// One cycle over three files, reported once, at the local (first by
		// name) where the walk closes it; d and e only depend on it.
		name: "cycle across files",
		files: map[string]string{
			"x.hcl": "locals {\n  ok = 1\n  a  = local.b + 1\n}\n",
			"y.hcl": "locals {\n  b = local.c\n  d = local.a\n}\n",
			"z.hcl": "locals {\n  c = [local.a, local.ok][0]\n  e = local.d\n}\n",
		},
		want: []string{"x.hcl:3:8: Cycle in local values: These locals refer to each other: local.a -> local.b -> local.c -> local.a."},
	}, {
		name: "two cycles",
		files: map[string]string{
			"l.hcl": "locals {\n  ok = 1\n  a  = local.b\n  b  = local.a\n  x  = local.y\n  y  = local.z\n  z  = local.y\n}\n",
		},
		want: []string{
			"l.hcl:3:8: Cycle in local values: These locals refer to each other: local.a -> local.b -> local.a.",
			"l.hcl:6:8: Cycle in local values: These locals refer to each other: local.y -> local.z -> local.y.",
		},
	}}
}

// localsReferenceErrors: undeclared, malformed and duplicate locals, and
// an evaluation error deep in a chain.
func localsReferenceErrors() []localsErrorCase {
	return []localsErrorCase{{
		// A wrong reference deep in a chain is reported where it is
		// written; the locals after it in the chain report nothing more.
		name: "undeclared local in a chain",
		files: map[string]string{
			"a.hcl": "locals {\n  ok = local.b\n}\n",
			"b.hcl": "locals {\n  b = local.c\n  c = upper(local.dd)\n  d = 1\n}\n",
		},
		want: []string{`b.hcl:3:13: Reference to undeclared local value: No local value named "dd" is declared. Did you mean "local.d"?`},
	}, {
		name: "evaluation error",
		files: map[string]string{
			"a.hcl": "locals {\n  ok = local.b\n}\n",
			"b.hcl": "locals {\n  b = local.c\n  c = 1 + \"x\"\n}\n",
		},
		want: []string{`b.hcl:3:11: Invalid operand: Unsuitable value for right operand: a number is required.`},
	}, {
		name:  "local without a name",
		files: map[string]string{"a.hcl": "locals {\n  ok = 1\n  b  = local[\"ok\"]\n  c  = keys(local)\n}\n"},
		want: []string{
			`a.hcl:3:8: Invalid reference to a local value: A local value is referred to as local.NAME; "local" alone or with an index names none.`,
			`a.hcl:4:13: Invalid reference to a local value: A local value is referred to as local.NAME; "local" alone or with an index names none.`,
		},
	}, {
		name:  "duplicate local",
		files: map[string]string{"a.hcl": "locals {\n  ok = 1\n}\n", "b.hcl": "locals {\n  ok = 2\n}\n"},
		want:  []string{"b.hcl:2:3: Duplicate local value: local.ok is already defined at a.hcl:2,3-5."},
	}}
}

// cancelFS cancels a context the first time a file named trigger is opened,
// and counts the opens of it.
type cancelFS struct {
	fstest.MapFS
	trigger string
	cancel  context.CancelFunc
	opens   int
}

func (f *cancelFS) Open(name string) (fs.File, error) {
	if name == f.trigger {
		f.opens++
		f.cancel()
	}
	return f.MapFS.Open(name)
}

// TestLoadContextStops cancels the load from inside evaluation (the first
// file() call) and checks that the loop over locals or for_each elements
// stops within cancelCheckEvery steps, with no cluster and a diagnostic.
func TestLoadContextStops(t *testing.T) {
	const n = 5000
	var locals strings.Builder
	for i := range n {
		fmt.Fprintf(&locals, "  f%d = file(\"x.txt\")\n", i)
	}
	tests := map[string]map[string]string{
		"locals": {"main.hcl": generated(1, false), "locals.hcl": "locals {\n" + locals.String() + "}\n"},
		"for_each": {"main.hcl": generated(1, false), "nodes.macs": macFile(n), "more.hcl": `node "x" {
  for_each = toset([for m in compact(split("\n", file("nodes.macs"))) : "x${replace(m, ":", "")}"])
  mac      = "52:54:00:00:00:01"
  ip       = file("x.txt")
}
`},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			files["x.txt"] = "10.1.2.3"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fsys := &cancelFS{MapFS: mapFS(files), trigger: "x.txt", cancel: cancel}
			c, diags := LoadContext(ctx, fsys, Options{})
			if c != nil {
				t.Fatal("a stopped load returned a cluster")
			}
			if got := errorLines(diags); len(got) != 1 || !strings.HasPrefix(got[0], "-: Evaluation stopped: ") {
				t.Errorf("diagnostics: %s", diags.Error())
			}
			if fsys.opens == 0 || fsys.opens > cancelCheckEvery {
				t.Errorf("file() ran %d times after the cancel; want 1..%d", fsys.opens, cancelCheckEvery)
			}
		})
	}
	// Done before it starts: nothing is read.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fsys := &cancelFS{MapFS: mapFS(map[string]string{"main.hcl": "locals {\n  a = file(\"x.txt\")\n}\n"}), trigger: "x.txt", cancel: cancel}
	if c, diags := LoadContext(ctx, fsys, Options{}); c != nil || !diags.HasErrors() || fsys.opens != 0 {
		t.Errorf("cancelled before the start: cluster %v, %d opens, diagnostics %s", c != nil, fsys.opens, diags.Error())
	}
}

// BenchmarkLocals measures loading n locals (see generatedLocals): the
// time per load should grow about linearly with n.
func BenchmarkLocals(b *testing.B) {
	for _, n := range []int{5_000, 10_000, 40_000} {
		fsys := generatedLocals(n, 8)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, diags := Load(fsys, Options{}); diags.HasErrors() {
					b.Fatal(diags.Error())
				}
			}
		})
	}
}
