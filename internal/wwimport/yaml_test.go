package wwimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src string
		line      int
		want      string
	}{
		{"syntax", "nodes:\n  n1:\n    profiles: [a\n", 2, "did not find expected"},
		{"wrong type", "nodes:\n  n1:\n    network devices: 3\n", 3, "cannot read !!int `3` here"},
		{"not a mapping", "- a\n- b\n", 1, "not a YAML mapping"},
		{"nodes a list", "nodes:\n  - n1\n", 2, "nodes must be a mapping"},
		{"twice", "nodes:\n  n1: {}\n  n1: {}\n", 3, `"n1" is declared twice`},
	} {
		p := filepath.Join(dir, tc.name+".conf")
		os.WriteFile(p, []byte(tc.src), 0o644)
		_, err := Run(Config{NodesConf: p, Out: filepath.Join(dir, "out")})
		var re *ReadError
		if !errors.As(err, &re) || re.File != p || re.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %s:%d: ...%s", tc.name, err, p, tc.line, tc.want)
		}
	}
	_, err := Run(Config{NodesConf: filepath.Join(dir, "missing.conf"), Out: filepath.Join(dir, "out")})
	if err == nil || err.Error() != filepath.Join(dir, "missing.conf")+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a failed import wrote its output directory")
	}
}
