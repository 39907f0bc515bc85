package main

import (
	"strings"
	"testing"
)

func TestStatusHostlist(t *testing.T) {
	url := statusServer(t)
	code, out, errOut := statusExec("--server", url, "c[001-002]")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var names []string
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(l, "*") {
			names = append(names, f[0])
		}
	}
	if strings.Join(names, " ") != "c001 c002" {
		t.Fatalf("rows %q, want c001 c002:\n%s", names, out)
	}

	code, out, errOut = statusExec("--server", url, "c[002-003],login1")
	if code != 1 || !strings.Contains(errOut, "c003") || strings.Contains(errOut, "c002") {
		t.Fatalf("exit %d, stderr %q: want 1 naming only c003, the name nobody declares", code, errOut)
	}
	if !strings.Contains(out, "c002") || !strings.Contains(out, "login1") || strings.Contains(out, "c001 ") {
		t.Fatalf("rows:\n%s", out)
	}

	code, _, errOut = statusExec("--server", url, "c[3-1]")
	if code != 1 || !strings.Contains(errOut, `hostlist "c[3-1]": range "3-1" runs backwards`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
