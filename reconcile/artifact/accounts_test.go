package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
	"github.com/klauspost/compress/gzip"
)

// makeAccountsImage writes an image whose /etc holds the account files of
// testdata/accounts/image (trimmed from Debian 12's), /etc/shadow and
// /etc/gshadow 0640 root:shadow (gid 42) as there.
func makeAccountsImage(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "boot/vmlinuz-1.0"), "kernel", 0o644)
	write(t, filepath.Join(dir, "usr/sbin/init"), "#!/bin/sh\n", 0o755)
	for _, name := range []string{"passwd", "group", "shadow", "gshadow"} {
		data, err := os.ReadFile(filepath.Join("testdata/accounts/image/etc", name))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.Contains(name, "shadow") {
			mode = 0o640
		}
		p := filepath.Join(dir, "etc", name)
		write(t, p, string(data), mode)
		if os.Geteuid() == 0 && mode == 0o640 {
			if err := os.Chown(p, 0, 42); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

var (
	aliceAt = hcl.Range{Filename: "users.hcl", Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 13}}
	hpcAt   = hcl.Range{Filename: "users.hcl", Start: hcl.Pos{Line: 9, Column: 1}, End: hcl.Pos{Line: 9, Column: 12}}
)

// accountsCluster: alice (private group, in hpc and the image's sudo),
// bob (primary group the image's users, with a password hash), group hpc,
// and a runtime overlay whose munge key is owned by the declared munge
// user; nodes n00000 (every user) and n00001 (bob only).
func accountsCluster(t testing.TB) *hclspec.Cluster {
	tc := &testCluster{
		fs:       fstest.MapFS{"overlays/munge/etc/munge/munge.key": {Data: []byte("key"), Mode: 0o644}},
		images:   []*hclspec.Image{{Name: "debian12", Source: makeAccountsImage(t)}},
		overlays: []*hclspec.Overlay{{Name: "munge", Source: "overlays/munge", Files: []*hclspec.FileAttr{{Glob: "etc/munge/munge.key", Mode: 0o400, ModeSet: true, Owner: "munge", Group: "munge"}}}},
		nodes:    mkNodes(2, "debian12", nil, []string{"munge"}),
	}
	tc.nodes[1].Users = []string{"bob"}
	tc.nodes[1].RuntimeOverlays = nil
	c := tc.build()
	c.Servers[0].SecureRuntime = true
	c.SetAccounts([]*hclspec.User{
		{Name: "alice", UID: 1001, GID: 1001, PrivateGroup: true, Groups: []string{"hpc", "sudo"}, Home: "/home/alice", Shell: "/bin/bash", Range: aliceAt},
		{Name: "bob", UID: 1002, GID: 100, Groups: []string{"hpc"}, Home: "/home/bob", Shell: "/bin/sh", Comment: "Bob B", PasswordHash: "$6$salt$bobhash"},
		{Name: "munge", UID: 1003, GID: 1003, PrivateGroup: true, Home: "/nonexistent", Shell: "/usr/sbin/nologin"},
	}, []*hclspec.Group{{Name: "hpc", GID: 2000, Range: hpcAt}})
	return c
}

// TestAccountsGolden: the system overlay's /etc/passwd, group, shadow and
// gshadow are the image's with the declared accounts merged in (golden
// files under testdata/accounts), shadow locked and owned as the image's;
// the runtime overlay's /etc/shadow alone carries the password hash; a
// file block may name a declared user as owner.
func TestAccountsGolden(t *testing.T) {
	c := accountsCluster(t)
	r := mustBuild(t, newBuilder(t, t.TempDir()), c)
	sys := unpack(t, r.Nodes["n00000"].System.Path)
	for _, name := range []string{"passwd", "group", "shadow", "gshadow"} {
		got, err := os.ReadFile(filepath.Join(sys, "etc", name))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata/accounts", name+".golden")
		if *updateNet {
			write(t, golden, string(got), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("/etc/%s of the system overlay:\n%s\nwant (%s):\n%s", name, got, golden, want)
		}
		if strings.Contains(string(got), "bobhash") {
			t.Errorf("the system overlay's /etc/%s holds bob's password hash: it travels over plain HTTP", name)
		}
	}
	hdrs, _ := cpioHeaders(t, r.Nodes["n00000"].System.Path)
	if h := hdrs["etc/shadow"]; h == nil || h.Mode.Perm() != 0o640 || (os.Geteuid() == 0 && h.Guid != 42) {
		t.Errorf("etc/shadow entry %+v, want 0640 root:shadow(42) as the image's", h)
	}
	if h := hdrs["etc/passwd"]; h == nil || h.Mode.Perm() != 0o644 || h.Uid != 0 {
		t.Errorf("etc/passwd entry %+v, want 0644 root", h)
	}

	rt := unpack(t, r.Nodes["n00000"].Runtime.Path)
	shadow, err := os.ReadFile(filepath.Join(rt, "etc/shadow"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(shadow), "bob:$6$salt$bobhash:::::::\n") || !strings.Contains(string(shadow), "alice:*:::::::\n") ||
		!strings.HasPrefix(string(shadow), "root:*:19700:0:99999:7:::\n") {
		t.Errorf("runtime /etc/shadow:\n%s", shadow)
	}
	if _, err := os.Stat(filepath.Join(rt, "etc/passwd")); err == nil {
		t.Error("the runtime overlay carries /etc/passwd too; only shadow needs the secure channel")
	}
	rh, _ := cpioHeaders(t, r.Nodes["n00000"].Runtime.Path)
	if h := rh["etc/munge/munge.key"]; h == nil || h.Uid != 1003 || h.Guid != 1003 || h.Mode.Perm() != 0o400 {
		t.Errorf("munge.key entry %+v, want 0400 1003:1003 (the declared munge user and its private group)", h)
	}

	// n00001 selects bob alone: no alice, but the declared group hpc with
	// bob its only member.
	one := unpack(t, r.Nodes["n00001"].System.Path)
	passwd, _ := os.ReadFile(filepath.Join(one, "etc/passwd"))
	group, _ := os.ReadFile(filepath.Join(one, "etc/group"))
	if strings.Contains(string(passwd), "alice") || !strings.Contains(string(passwd), "bob:x:1002:100:Bob B:/home/bob:/bin/sh\n") ||
		!strings.Contains(string(group), "hpc:x:2000:bob\n") || !strings.Contains(string(group), "sudo:x:27:debian\n") {
		t.Errorf("node selecting bob:\n%s\n%s", passwd, group)
	}
}

// TestAccountsCollide: a declared name, uid or gid the image has, and a
// group that is nowhere, fail the build and are diagnostics at the user or
// group block naming the image, also where Check has the image's layout
// (a plan on the server's state).
func TestAccountsCollide(t *testing.T) {
	for name, tc := range map[string]struct {
		user  func(u *hclspec.User)
		group func(g *hclspec.Group)
		want  string
		at    hcl.Range
	}{
		"name":          {user: func(u *hclspec.User) { u.Name = "debian" }, want: "user debian already exists in image debian12 (uid 1000)", at: aliceAt},
		"uid":           {user: func(u *hclspec.User) { u.UID = 1000 }, want: "uid 1000 of user alice is user debian's in image debian12", at: aliceAt},
		"group gid":     {group: func(g *hclspec.Group) { g.GID = 27 }, want: "gid 2000", at: hpcAt},
		"group name":    {group: func(g *hclspec.Group) { g.Name = "users" }, want: "group users already exists in image debian12 (gid 100)", at: hpcAt},
		"private name":  {user: func(u *hclspec.User) { u.Name = "shadow" }, want: "private group shadow", at: aliceAt},
		"unknown group": {user: func(u *hclspec.User) { u.Groups = []string{"gpu"} }, want: "group gpu of user alice is neither declared nor in /etc/group of image debian12", at: aliceAt},
	} {
		t.Run(name, func(t *testing.T) {
			c := accountsCluster(t)
			alice, hpc := *c.Users[0], *c.Groups[0]
			if tc.user != nil {
				tc.user(&alice)
			}
			if tc.group != nil {
				tc.group(&hpc)
				if name == "group gid" {
					tc.want = "gid 27 of group hpc is group sudo's in image debian12"
				}
			}
			users := append([]*hclspec.User{&alice}, c.Users[1:]...)
			if name == "private name" {
				users = append(users[:1:1], c.Users[2]) // alice renamed shadow; munge
				tc.want = "the private group shadow of user shadow (gid 1001) already exists in image debian12 with gid 42"
			}
			c.SetAccounts(users, []*hclspec.Group{&hpc})
			_, err := newBuilder(t, t.TempDir()).Build(context.Background(), c, "")
			var le *locError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build error %v, want %q", err, tc.want)
			}
			if le.subject == nil || *le.subject != tc.at {
				t.Errorf("error at %v, want %v", le.subject, tc.at)
			}
			lay, err := layoutOf(mustTree(t, c.Images[0].Source))
			if err != nil {
				t.Fatal(err)
			}
			diags := check(c, "", checkOpts{views: func(string) *imageView { return &imageView{name: "debian12", lay: lay} }})
			if len(diags) == 0 || diags[0].Summary != "Account collides with the image" || diags[0].Subject == nil || *diags[0].Subject != tc.at ||
				!strings.Contains(diags[0].Detail, tc.want) {
				t.Errorf("Check with the image's layout: %v", diags)
			}
		})
	}
	// Without the image's layout (validate away from the server) nothing
	// can be known of the image.
	if diags := Check(accountsCluster(t), ""); diags.HasErrors() {
		t.Errorf("Check without the image: %v", diags)
	}
}

func mustTree(t testing.TB, dir string) *tree {
	t.Helper()
	tr, _, err := scanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestAccountsImageWithout: on an image without account files (a busybox
// image) the declared accounts make them: passwd and group 0644, shadow
// 0600, no gshadow; supplementary groups can only be declared ones.
func TestAccountsImageWithout(t *testing.T) {
	tc := siteCluster(t, nil, nil)
	tc.images[0].Source = t.TempDir()
	write(t, filepath.Join(tc.images[0].Source, "boot/vmlinuz-1.0"), "kernel", 0o644)
	write(t, filepath.Join(tc.images[0].Source, "sbin/init"), "#!/bin/sh\n", 0o755)
	c := tc.build()
	c.SetAccounts([]*hclspec.User{{Name: "alice", UID: 1001, GID: 2000, Groups: []string{"hpc"}, Home: "/home/alice", Shell: "/bin/sh"}},
		[]*hclspec.Group{{Name: "hpc", GID: 2000}})
	r := mustBuild(t, newBuilder(t, t.TempDir()), c)
	dir := unpack(t, r.Nodes["n00000"].System.Path)
	for name, want := range map[string]string{
		"passwd": "alice:x:1001:2000::/home/alice:/bin/sh\n",
		"group":  "hpc:x:2000:alice\n",
		"shadow": "alice:*:::::::\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, "etc", name))
		if err != nil || string(got) != want {
			t.Errorf("/etc/%s = %q (%v), want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/gshadow")); err == nil {
		t.Error("a gshadow was made for an image that has none")
	}
	hdrs, _ := cpioHeaders(t, r.Nodes["n00000"].System.Path)
	if h := hdrs["etc/shadow"]; h == nil || h.Mode.Perm() != 0o600 || h.Uid != 0 || h.Guid != 0 {
		t.Errorf("etc/shadow entry %+v, want 0600 root:root", h)
	}
}

// TestAccountsFollowImage: an image update that adds a system user is
// merged again: the image's account files are an input of the overlays.
func TestAccountsFollowImage(t *testing.T) {
	c := accountsCluster(t)
	b := newBuilder(t, t.TempDir())
	first := mustBuild(t, b, c)
	passwd := filepath.Join(c.Images[0].Source, "etc/passwd")
	data, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	write(t, passwd, string(data)+"slurm:x:64030:64030::/nonexistent:/usr/sbin/nologin\n", 0o644)
	second := mustBuild(t, b, accountsCluster2(c))
	if first.Nodes["n00000"].System.Digest == second.Nodes["n00000"].System.Digest {
		t.Fatal("the system overlay was not rebuilt after the image's /etc/passwd changed")
	}
	got, err := os.ReadFile(filepath.Join(unpack(t, second.Nodes["n00000"].System.Path), "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "slurm:x:64030:64030::/nonexistent:/usr/sbin/nologin\nalice:x:1001:") {
		t.Errorf("/etc/passwd after the image update:\n%s", got)
	}
}

// accountsCluster2 is c again (the same blocks, the same image source):
// a new Cluster as the next commit's load would give.
func accountsCluster2(c *hclspec.Cluster) *hclspec.Cluster {
	n := hclspec.NewCluster(c.FS, c.Servers, c.Networks, c.Images, c.Overlays, c.Profiles, c.Nodes)
	n.SetAccounts(c.Users, c.Groups)
	return n
}

// TestAccountsLayoutVersion1: an image recorded by a gitboot whose
// layouts did not keep the account files (version 1) is not rebuilt, its
// layout is read again from its artifact, and the merge has the image's
// own lines.
func TestAccountsLayoutVersion1(t *testing.T) {
	c := accountsCluster(t)
	b := newBuilder(t, t.TempDir())
	first := mustBuild(t, b, c)
	var rec imageRecord
	for _, x := range b.images {
		rec = x
	}
	old := *b.layouts[rec.Layout.Hex]
	old.Accounts = nil
	data, err := old.encode()
	if err != nil {
		t.Fatal(err)
	}
	data = v1Layout(t, data)
	tmp, err := b.store.create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(data); err != nil {
		t.Fatal(err)
	}
	if rec.Layout, err = b.store.commit(tmp, extLayout); err != nil {
		t.Fatal(err)
	}
	b.images[rec.Input] = rec
	b.layouts = map[string]*Layout{}
	if l, err := b.layout(rec.Layout); err != nil || l.accountsKnown {
		t.Fatalf("the version 1 layout reads as %v, %v", l, err)
	}
	second := mustBuild(t, b, accountsCluster2(c))
	if second.Images["debian12"].Rebuilt {
		t.Error("the image was built again")
	}
	if first.Nodes["n00000"].System.Digest != second.Nodes["n00000"].System.Digest {
		t.Error("the system overlay differs from the one made with the version 2 layout")
	}
}

// v1Layout rewrites an encoded layout as version 1 wrote it.
func v1Layout(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.NewDecoder(zr).Decode(&f); err != nil {
		t.Fatal(err)
	}
	f["version"] = 1
	delete(f, "accounts")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(f); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAccountsRender: `overlay render` lists the account files as
// gitboot-accounts' and never shows the runtime shadow's password hash.
func TestAccountsRender(t *testing.T) {
	r, err := Render("", accountsCluster(t), "", "n00000", "")
	if err != nil {
		t.Fatal(err)
	}
	data, f, ok := r.Content("/etc/shadow")
	if !ok || f.Kind != "runtime" || !f.Sensitive || f.Overlay != accountsOrigin || string(data) != SensitiveValue {
		t.Errorf("/etc/shadow renders as %q %+v", data, f)
	}
	data, f, ok = r.Content("/etc/passwd")
	if !ok || f.Kind != "system" || f.Overlay != accountsOrigin || !strings.Contains(string(data), "alice:x:1001:1001::/home/alice:/bin/bash\n") {
		t.Errorf("/etc/passwd renders as %q %+v", data, f)
	}
}
