package tftp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestBootFileChangedOnDiskIsServedAnew: boot files are served from
// memory, read once per version: a file rewritten in place (same size),
// or replaced by a rename (another size), is what the next transfer sends.
func TestBootFileChangedOnDiskIsServedAnew(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	path := filepath.Join(r.dir, smallFile)
	fetch := func(want []byte, what string) {
		t.Helper()
		for range 2 { // the second from memory
			got, _, _, err := newRaw(t, ts.port).fetch(smallFile, "blksize", "1468")
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: got %q, %v; want %q", what, got, err, want)
			}
		}
	}
	fetch(r.files[smallFile], "the first version")

	same := bytes.ToUpper(r.files[smallFile])
	if bytes.Equal(same, r.files[smallFile]) || len(same) != len(r.files[smallFile]) {
		t.Fatal("test data: want other bytes of the same length")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(same, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fetch(same, "rewritten in place")

	bigger := randomBytes(t, 100_000)
	mustWrite(t, path+".new", bigger)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	fetch(bigger, "replaced by a rename")
	files := ts.cur.Load().files
	files.mu.Lock()
	n := len(files.m)
	files.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d files in memory, want 1", n)
	}
}
