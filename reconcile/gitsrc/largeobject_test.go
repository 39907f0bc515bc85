package gitsrc

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
)

// Objects above largeObject are streamed from their file: a large file
// must read back byte for byte, loose and after `git gc` packed it, and
// through a linked worktree (whose objects live in the common directory).
func TestLargeObjectReadBack(t *testing.T) {
	work, _, _ := newRepo(t)
	var big bytes.Buffer
	for i := 0; big.Len() <= 2*largeObject; i++ {
		fmt.Fprintf(&big, "node \"n%06d\" {\n  mac = \"02:00:00:00:%02x:%02x\"\n}\n\n", i, i>>8&0xff, i&0xff)
	}
	write(t, filepath.Join(work, "nodes.hcl"), big.String(), 0o644)
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "large")
	linked := filepath.Join(t.TempDir(), "linked")
	runGit(t, work, "worktree", "add", "-q", linked)
	check := func(stage, path string) {
		t.Helper()
		src, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := src.Resolve("HEAD")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second read is not from a cache
			got, err := fs.ReadFile(c.FS, "nodes.hcl")
			if err != nil || !bytes.Equal(got, big.Bytes()) {
				t.Fatalf("%s: %s: read %d bytes (%v), want the %d committed", stage, path, len(got), err, big.Len())
			}
		}
		if st, err := fs.Stat(c.FS, "nodes.hcl"); err != nil || st.Size() != int64(big.Len()) {
			t.Fatalf("%s: stat = %v, %v", stage, st, err)
		}
	}
	check("loose", work)
	check("loose", linked)
	runGit(t, work, "gc", "-q")
	check("packed", work)
	check("packed", linked)
}
