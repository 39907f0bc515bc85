package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// initramfsMembers returns the decompressed gzip members of an artifact, in
// order: a system overlay has two (gitboot's init and agent, then the
// node's own files), each a cpio archive, as Linux reads them.
func initramfsMembers(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out [][]byte
	for {
		zr.Multistream(false)
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: member %d: %v", path, len(out), err)
		}
		out = append(out, data)
		if err := zr.Reset(br); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("%s: after member %d: %v", path, len(out), err)
		}
	}
}

// cpioEach runs GNU cpio with args in dir over each member of the artifact
// at path, in order, and returns the outputs joined.
func cpioEach(t *testing.T, path, dir string, args ...string) string {
	t.Helper()
	var all strings.Builder
	for i, m := range initramfsMembers(t, path) {
		cmd := exec.Command("cpio", args...)
		cmd.Dir, cmd.Stdin = dir, bytes.NewReader(m)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cpio %s of %s, member %d: %v\n%s", strings.Join(args, " "), path, i, err, out)
		}
		all.Write(out)
	}
	return all.String()
}
