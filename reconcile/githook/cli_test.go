package githook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupRefusesBeforeInstalling: a server that is not an http(s) URL
// or a ref that is not a branch is refused, naming the flag, and no
// hook is written.
func TestSetupRefusesBeforeInstalling(t *testing.T) {
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		server, ref, want string
	}{
		{"127.0.0.1:9999", "main", `--server "127.0.0.1:9999": expected a URL such as http://x:1`},
		{"ftp://host/", "main", "expected a URL such as"},
		{"http://", "main", "expected a URL such as"},
		{"http://127.0.0.1:1", "bad..name", `--ref "refs/heads/bad..name": not a valid branch name`},
	} {
		var out bytes.Buffer
		err := Setup{Repo: repo, Ref: tc.ref, Server: tc.server, ExampleServer: "http://x:1"}.Run(&out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("server %q ref %q: %v, want an error with %q", tc.server, tc.ref, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("server %q: printed %q", tc.server, out.String())
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(repo, "hooks")); len(ents) != 0 {
		t.Errorf("hooks written: %v", ents)
	}
}
