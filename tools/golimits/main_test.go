package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	long := "package p\n\nfunc Long() {\n" + strings.Repeat("\t_ = 1\n", 10) + "}\n\nfunc Short() {}\n\ntype T struct{}\n\nfunc (*T) M() {\n" + strings.Repeat("\t_ = 1\n", 10) + "}\n\nvar f = func() {\n" + strings.Repeat("\t_ = 1\n", 10) + "}\n"
	path := filepath.Join(dir, "p.go")
	if err := os.WriteFile(path, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := goFiles(dir)
	if err != nil || len(files) != 1 {
		t.Fatalf("goFiles: %v %v", files, err)
	}
	vs, _, err := check(files, 20, 8)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.key)
	}
	want := []string{path + " file", path + " Long", path + " T.M", path + " func-literal"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("violations %q, want %q", got, want)
	}
	vs, _, _ = check(files, 100, 12)
	if len(vs) != 0 {
		t.Fatalf("within the limits, got %v", vs)
	}
}

func TestReadKnown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known")
	os.WriteFile(path, []byte("# comment\n\na/b.go Run\n"), 0o644)
	k, err := readKnown(path)
	if err != nil || !k["a/b.go Run"] || len(k) != 1 {
		t.Fatalf("readKnown: %v %v", k, err)
	}
	os.WriteFile(path, []byte("a/b.go\n"), 0o644)
	if _, err := readKnown(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("a line without a name: %v", err)
	}
}

// TestRepository is the check make lint runs, in make test too: no new
// file over 500 lines, no new function over 80, and .ci/golimits-known
// only lists what is still over.
func TestRepository(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := goFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	vs, _, err := check(files, 500, 80)
	if err != nil {
		t.Fatal(err)
	}
	known, err := readKnown(filepath.Join(root, ".ci", "golimits-known"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		key := strings.TrimPrefix(filepath.ToSlash(v.key), "../../")
		if known[key] {
			delete(known, key)
			continue
		}
		t.Errorf("%s: %s", v.pos, v.msg)
	}
	for k := range known {
		t.Errorf("%s: listed in .ci/golimits-known but within the limits now: remove the line", k)
	}
}
