package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func importExec(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith(append([]string{"import", "warewulf"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestImportWarewulfCommand(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nodes.conf")
	os.WriteFile(conf, []byte(`nodeprofiles:
  default:
    image name: rocky
    runtime overlay: [hostname]
    network devices:
      default:
        netmask: 255.255.255.0
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {hwaddr: "52:54:00:00:00:01", ipaddr: 10.9.0.11}
  n2:
    profiles: [default]
    network devices:
      default: {ipaddr: 10.9.0.12}
`), 0o644)
	ww := filepath.Join(dir, "warewulf.conf")
	os.WriteFile(ww, []byte("ipaddr: 10.9.0.1\nnetmask: 255.255.255.0\n"), 0o644)
	out := filepath.Join(dir, "repo")
	code, stdout, stderr := importExec("--nodes-conf", conf, "--warewulf-conf", ww, "--out", out)
	if code != 0 || !strings.Contains(stdout, "Imported 1 nodes") || !strings.Contains(stdout, "MIGRATION.md lists 1 things not mapped") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if code := runWith([]string{"validate", out}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("gitboot validate of the import: exit %d", code)
	}
	if code := runWith([]string{"fmt", "-check", out}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("gitboot fmt -check of the import: exit %d", code)
	}
	md, _ := os.ReadFile(filepath.Join(out, "MIGRATION.md"))
	if !strings.Contains(string(md), "nodes.conf:15 (node n2)") {
		t.Errorf("MIGRATION.md does not name n2's line:\n%s", md)
	}

	// Unreadable input: exit 1, the file and line named.
	os.WriteFile(conf, []byte("nodes:\n  n1:\n    network devices: 3\n"), 0o644)
	code, _, stderr = importExec("--nodes-conf", conf, "--out", out)
	if code != 1 || !strings.Contains(stderr, conf+":3: ") {
		t.Fatalf("exit %d, stderr %q: want 1 naming %s:3", code, stderr, conf)
	}
	code, _, stderr = importExec("--nodes-conf", filepath.Join(dir, "none.conf"), "--out", out)
	if code != 1 || !strings.Contains(stderr, "none.conf: no such file or directory") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
