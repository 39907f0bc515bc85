// Package damagetest damages files the way disks and careless tools do,
// and reads logs for what a server said about it. Imported only by
// _test.go files (reconcile/artifact, test/e2e) that check gitboot finds
// and repairs damaged state.
package damagetest

import (
	"os"
	"strings"
	"testing"
)

// FlipByte inverts one byte of a file in place: the same size and inode,
// a new modification time (an artifact overwritten in place, a bad disk).
func FlipByte(t testing.TB, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// HasLine reports whether one line of log holds every one of subs.
func HasLine(log string, subs ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			return true
		}
	}
	return false
}
