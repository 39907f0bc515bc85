package wwimport

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/hclfmt"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

var update = flag.Bool("update", false, "rewrite the golden repositories under testdata/*/golden")

// copyTree copies a testdata directory, so a test can set modes git does
// not keep.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readTree returns every file under dir by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// importCase imports testdata/NAME into a temporary directory and compares
// the repository with testdata/NAME/golden (rewritten with -update).
func importCase(t *testing.T, name string, prepare func(overlays string)) (string, *Report) {
	t.Helper()
	src := filepath.Join("testdata", name)
	tmp := t.TempDir()
	overlays := filepath.Join(tmp, "overlays")
	copyTree(t, filepath.Join(src, "overlays"), overlays)
	if prepare != nil {
		prepare(overlays)
	}
	out := filepath.Join(tmp, "repo")
	cfg := Config{NodesConf: filepath.Join(src, "nodes.conf"), WarewulfConf: filepath.Join(src, "warewulf.conf"),
		OverlaysDir: overlays, ImagesDir: "/srv/warewulf/images", Out: out}
	rep, err := Run(cfg)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	got := readTree(t, out)
	golden := filepath.Join(src, "golden")
	if *update {
		os.RemoveAll(golden)
		for p, data := range got {
			g := filepath.Join(golden, filepath.FromSlash(p))
			os.MkdirAll(filepath.Dir(g), 0o755)
			if err := os.WriteFile(g, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := readTree(t, golden)
	for p, data := range got {
		if w, ok := want[p]; !ok {
			t.Errorf("%s: written, not in %s (run with -update)", p, golden)
		} else if !bytes.Equal(w, data) {
			t.Errorf("%s differs from %s (run with -update):\n%s", p, golden, hclfmt.Unified("want", "got", w, data))
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("%s: in %s, not written", p, golden)
		}
	}

	// Importing again changes nothing.
	again, err := Run(cfg)
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	if len(again.Written) != 0 || again.CredentialsWritten {
		t.Errorf("a second import wrote %v (credentials: %v)", again.Written, again.CredentialsWritten)
	}
	if after := readTree(t, out); len(after) != len(got) {
		t.Errorf("a second import changed the file set: %d -> %d files", len(got), len(after))
	}
	return out, rep
}

// load validates the repository as `gitboot validate` does.
func load(t *testing.T, dir string) *hclspec.Cluster {
	t.Helper()
	c, diags := hclspec.Load(os.DirFS(dir), hclspec.Options{})
	if !diags.HasErrors() {
		diags = append(diags, artifact.Check(c, "")...)
	}
	for _, d := range diags {
		t.Logf("%s", d.Error())
	}
	if diags.HasErrors() {
		t.Fatalf("the imported repository does not validate")
	}
	for name, data := range readTree(t, dir) {
		if strings.HasSuffix(name, ".hcl") {
			if ok, _ := hclfmt.IsFormatted(data, name); !ok {
				t.Errorf("%s is not in gitboot fmt's form", name)
			}
		}
	}
	return c
}
