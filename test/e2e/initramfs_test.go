package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/initrdtest"
)

// cpioEach runs GNU cpio with args in dir over each gzip member of the
// artifact at path (a system overlay has two, each a cpio archive, as Linux
// reads them), in order, and returns the outputs joined.
func cpioEach(t *testing.T, path, dir string, args ...string) string {
	t.Helper()
	ms, err := initrdtest.Members(path)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for i, m := range ms {
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
