package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A spreadsheet export: a header row, the MAC in the second column and
// rows of separators only (","), which used to panic (index out of range).
func TestDiscoverMACFileSpreadsheet(t *testing.T) {
	dir := labTree(t)
	macs := filepath.Join(t.TempDir(), "rack2.csv")
	os.WriteFile(macs, []byte("serial,mac,position\nX1,52:54:00:bb:00:01,u1\n,\n,,\nX2,52:54:00:bb:00:02,u2\n"), 0o644)
	out := filepath.Join(dir, "discovered.hcl")
	code, stdout, stderr := gitbootExec("discover", "--macs", macs, "--write", out, "--name-format", "r2n%02d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "Appended 2 node block(s)") {
		t.Errorf("stdout: %q", stdout)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "52:54:00:bb:00:01") || !strings.Contains(string(b), "52:54:00:bb:00:02") || !strings.Contains(string(b), "rack2.csv line 5") {
		t.Errorf("written:\n%s", b)
	}
	if code, _, errOut := gitbootExec("validate", dir); code != 0 {
		t.Fatalf("validate after --write: %s", errOut)
	}
}
