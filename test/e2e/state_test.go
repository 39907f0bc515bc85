package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/gitboot/gitboot/internal/damagetest"
)

// TestDamagedStateFiles damages each state file `gitboot serve` reads at
// start (empty, truncated, not JSON), restarts it each time, and checks
// that it starts and serves n1's whole boot chain, that the damaged file
// was moved aside as NAME.corrupt-<time> with its content kept, and that
// the log says so at ERROR. (pending-plan.json is not read at start: only
// `gitboot apply` reads it, and says what is wrong with it.)
func TestDamagedStateFiles(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	l.checkWhole(t)
	l.stop(t, syscall.SIGTERM)

	damage := map[string]func([]byte) []byte{
		"empty":     func([]byte) []byte { return nil },
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"garbage":   func([]byte) []byte { return []byte("\x00\x17not json at all\n") },
	}
	files := []struct{ name, how string }{
		{"status.json", "truncated"},
		{"dhcp-leases.json", "garbage"},
		{"inventory.json", "truncated"},
		{"artifacts/applied.json", "empty"},
		{"status.json", "empty"},
		{"inventory.json", "garbage"},
		{"artifacts/applied.json", "truncated"},
		{"dhcp-leases.json", "empty"},
	}
	for _, f := range files {
		p := filepath.Join(l.state, f.name)
		old, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			// No dynamic lease was given yet: a lease file as gitboot writes it.
			old = []byte(`{"version":1,"leases":[{"mac":"52:54:00:99:00:09","addr":"10.99.0.200","state":"bound","expires":"2099-01-01T00:00:00Z"}]}`)
		} else if err != nil {
			t.Fatal(err)
		}
		bad := damage[f.how](old)
		if err := os.WriteFile(p, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		before, _ := filepath.Glob(p + ".corrupt-*")
		l.serve(t)
		l.checkWhole(t)
		after, _ := filepath.Glob(p + ".corrupt-*")
		if len(after) != len(before)+1 {
			t.Fatalf("%s (%s): moved-aside files before %v, after %v\nlog:\n%s", f.name, f.how, before, after, l.log.String())
		}
		var moved string
		for _, a := range after {
			if !slices.Contains(before, a) {
				moved = a
			}
		}
		if data, _ := os.ReadFile(moved); string(data) != string(bad) {
			t.Errorf("%s: the moved-aside file does not hold the damaged content", moved)
		}
		if !damagetest.HasLine(l.log.String(), "level=ERROR", p) {
			t.Errorf("%s (%s): no ERROR line naming it\nlog:\n%s", f.name, f.how, l.log.String())
		}
		if l.get("/inventory") == "" {
			t.Errorf("%s (%s): GET /inventory serves nothing after the restart", f.name, f.how)
		}
		l.stop(t, syscall.SIGTERM)
	}
}
