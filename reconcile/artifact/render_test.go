package artifact

import (
	"strings"
	"testing"
)

// TestRender: what `gitboot overlay render` shows of a node: every entry
// of its overlays with its overlay, mode, owner and size, placed on the
// image the server built, and one file's rendered bytes.
func TestRender(t *testing.T) {
	agent := writeTestAgent(t)
	tc := siteCluster(t, []string{"site"}, []string{"site"})
	state := t.TempDir()
	b, err := New(Config{StateDir: state, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	c := tc.build()
	if err := b.Commit(mustBuild(t, b, c)); err != nil {
		t.Fatal(err)
	}
	r, err := Render(state, c, "", "n00001", agent)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Placed || r.Image != "img" {
		t.Errorf("placed %v image %q, want the built image's layout", r.Placed, r.Image)
	}
	got := map[string]RenderedFile{}
	for _, f := range r.Files {
		got[f.Kind+" "+f.Path] = f
	}
	for key, want := range map[string]RenderedFile{
		"system usr/sbin/foo":                 {Overlay: "site", Type: "file", Mode: 0o755, Size: 3},
		"runtime etc/munge/munge.key":         {Overlay: "site", Type: "file", Mode: 0o400, UID: 105, GID: 107, Size: 6},
		"runtime root/.ssh":                   {Overlay: "site", Type: "dir", Mode: 0o700},
		"system " + AgentPath:                 {Overlay: "gitboot-init", Type: "file", Mode: 0o755, Size: got["system "+AgentPath].Size},
		"system etc/ssh/ssh_host_ed25519_key": {Overlay: "site", Type: "file", Mode: 0o600, GID: 108, Size: int64(len("key of n00001\n"))},
	} {
		g, ok := got[key]
		want.Kind, want.Path = strings.Fields(key)[0], strings.Fields(key)[1]
		if !ok || g != want {
			t.Errorf("%s: %+v, want %+v", key, g, want)
		}
	}
	for _, bad := range []string{"system sbin", "system sbin/foo", "runtime root", "system usr"} {
		if _, ok := got[bad]; ok {
			t.Errorf("lists %s, which the archive does not hold", bad)
		}
	}
	if data, f, ok := r.Content("/etc/ssh"); ok {
		t.Errorf("a directory has content: %v %q", f, data)
	}
	for _, p := range []string{"/etc/ssh/ssh_host_ed25519_key", "sbin/foo"} {
		data, f, ok := r.Content(p)
		if !ok || (p == "sbin/foo") != (string(data) == "foo") || f.Size != int64(len(data)) {
			t.Errorf("Content(%s) = %q %+v %v", p, data, f, ok)
		}
	}

	// Without the server's state: as the overlays have it.
	r, err = Render("", c, "", "n00001", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range r.Files {
		found = found || f.Path == "sbin/foo"
	}
	if r.Placed || !found {
		t.Errorf("unplaced render: placed %v, sbin/foo listed %v", r.Placed, found)
	}
	if _, err := Render(state, c, "", "nope", ""); err == nil {
		t.Error("an unknown node renders")
	}
}
