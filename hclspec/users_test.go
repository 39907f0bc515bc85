package hclspec

import (
	"slices"
	"strings"
	"testing"
)

const usersNodes = `
profile "compute" {
  image            = image.rocky9
  runtime_overlays = [overlay.generic]
}

node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
  users    = ["bob"]
}

node "c003" {
  mac      = "52:54:00:00:00:03"
  ip       = "10.99.0.13"
  profiles = [profile.compute]
  users    = []
}
`

const usersHCL = `
user "alice" {
  uid    = 1001
  groups = ["hpc", "sudo"]
  shell  = "/bin/bash"
}

user "bob" {
  uid     = 1002
  gid     = 2000
  home    = "/srv/bob"
  comment = "Bob B"
}

group "hpc" {
  gid = 2000
}
`

// TestUsers: user and group blocks with their defaults, a private group
// for a gid no declared group has, node selection (default all, a list,
// none), and the cluster hash following a change.
func TestUsers(t *testing.T) {
	files := map[string]string{"main.hcl": baseHCL, "nodes.hcl": usersNodes, "users.hcl": usersHCL}
	c := mustLoad(t, mapFS(files), Options{})
	alice, ok := c.User("alice")
	if !ok {
		t.Fatal("no user alice")
	}
	if alice.UID != 1001 || alice.GID != 1001 || !alice.PrivateGroup || alice.Home != "/home/alice" || alice.Shell != "/bin/bash" ||
		!slices.Equal(alice.Groups, []string{"hpc", "sudo"}) || alice.Range.Filename != "users.hcl" || alice.Range.Start.Line != 2 {
		t.Errorf("alice = %+v", *alice)
	}
	bob, _ := c.User("bob")
	if bob.GID != 2000 || bob.PrivateGroup || bob.Home != "/srv/bob" || bob.Shell != DefaultShell || bob.Comment != "Bob B" {
		t.Errorf("bob = %+v", *bob)
	}
	if g, ok := c.Group("hpc"); !ok || g.GID != 2000 {
		t.Errorf("group hpc = %+v", g)
	}
	for node, want := range map[string][]string{"c001": {"alice", "bob"}, "c002": {"bob"}, "c003": {}} {
		n, _ := c.Node(node)
		var got []string
		for _, u := range c.NodeUsers(n) {
			got = append(got, u.Name)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("node %s selects %v, want %v", node, got, want)
		}
	}
	for name, change := range map[string][2]string{
		"uid":      {"uid    = 1001", "uid    = 1005"},
		"group":    {`"hpc", "sudo"`, `"hpc"`},
		"selected": {`users    = ["bob"]`, `users    = ["alice"]`},
		"none":     {`users    = []`, ``},
	} {
		other := map[string]string{"main.hcl": baseHCL, "nodes.hcl": usersNodes, "users.hcl": usersHCL}
		for k, v := range other {
			other[k] = strings.Replace(v, change[0], change[1], 1)
		}
		if mustLoad(t, mapFS(other), Options{}).Hash == c.Hash {
			t.Errorf("%s: changing %q leaves the cluster hash alone", name, change[0])
		}
	}
	comment := map[string]string{"main.hcl": baseHCL, "nodes.hcl": usersNodes, "users.hcl": "# the site's users\n" + usersHCL}
	if mustLoad(t, mapFS(comment), Options{}).Hash != c.Hash {
		t.Error("a comment changes the cluster hash")
	}
}

// TestUsersInvalid: each mistake is an error at the file and line of the
// block or attribute at fault.
func TestUsersInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ hcl, want, at string }{
		"dup user":      {`user "alice" { uid = 1001 }` + "\n" + `user "alice" { uid = 1003 }`, `user "alice" is declared twice`, "users.hcl:2"},
		"dup uid":       {`user "alice" { uid = 1001 }` + "\n" + `user "carol" { uid = 1001 }`, `users "alice" and "carol" both have uid 1001`, "users.hcl:2"},
		"dup group":     {`group "hpc" { gid = 2000 }` + "\n" + `group "hpc" { gid = 2001 }`, `group "hpc" is declared twice`, "users.hcl:2"},
		"dup gid":       {`group "hpc" { gid = 2000 }` + "\n" + `group "gpu" { gid = 2000 }`, `groups "hpc" and "gpu" both have gid 2000`, "users.hcl:2"},
		"bad name":      {`user "Alice" { uid = 1001 }`, `user name "Alice" is not one useradd accepts`, "users.hcl:1"},
		"bad group":     {`group "1hpc" { gid = 2000 }`, `group name "1hpc"`, "users.hcl:1"},
		"uid zero":      {`user "alice" { uid = 0 }`, "uid of user \"alice\" must be a whole number from 1", "users.hcl:1"},
		"no uid":        {`user "alice" { shell = "/bin/sh" }`, "needs uid", "users.hcl:1"},
		"no gid":        {`group "hpc" {}`, "needs gid", "users.hcl:1"},
		"groups dup":    {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `groups = ["a", "a"]` + "\n}", `lists "a" twice`, "users.hcl:3"},
		"shell rel":     {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `shell = "bash"` + "\n}", "absolute path", "users.hcl:3"},
		"private name":  {`user "hpc" { uid = 1001 }` + "\n" + `group "hpc" { gid = 2000 }`, `user "hpc" has gid 1001, but group "hpc"`, "users.hcl:1"},
		"hash format":   {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `password_hash = "secret"` + "\n}", "crypt(3) hash", "users.hcl:3"},
		"hash file":     {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `password_hash_file = "secrets/a.age"` + "\n}", "file does not exist", "users.hcl:3"},
		"hash file ext": {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `password_hash_file = "secrets/a.hash"` + "\n}", "ending in .age", "users.hcl:3"},
		"hash file out": {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `password_hash_file = "../a.age"` + "\n}", "leaves the repository", "users.hcl:3"},
		"hash both":     {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `password_hash = "$6$s$h"` + "\n" + `password_hash_file = "x.age"` + "\n}", "sets both", "users.hcl:4"},
		"insecure":      {`user "alice" {` + "\n" + `uid = 1001` + "\n" + `password_hash = "$6$salt$abc"` + "\n}", `server "head" serves it without secure_runtime`, "users.hcl:3"},
		"unknown user":  {`user "alice" { uid = 1001 }`, `names "bob", which no user block declares`, "nodes.hcl:17"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": usersNodes, "users.hcl": tc.hcl}), Options{})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			msg := strings.Join(errorLines(diags), "\n")
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.at) {
				t.Fatalf("diagnostics\n%s\nwant %q at %s", msg, tc.want, tc.at)
			}
			if strings.Contains(msg, "$6$salt$abc") || strings.Contains(msg, `"secret"`) {
				t.Errorf("a diagnostic shows the password hash:\n%s", msg)
			}
		})
	}
}

// TestUsersPasswordSecure: a password hash is accepted when every server
// of the node runs secure_runtime, and is part of the hash (as a digest).
func TestUsersPasswordSecure(t *testing.T) {
	main := strings.Replace(baseHCL, `address = "10.99.0.1"`, "address = \"10.99.0.1\"\n  secure_runtime = true", 1)
	users := "user \"alice\" {\n  uid = 1001\n  password_hash = \"$6$salt$abc\"\n}\nuser \"bob\" { uid = 1002 }\n"
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": main, "nodes.hcl": usersNodes, "users.hcl": users}), Options{})
	if u, _ := c.User("alice"); u.PasswordHash != "$6$salt$abc" {
		t.Errorf("password hash %q", u.PasswordHash)
	}
	other := mustLoad(t, mapFS(map[string]string{"main.hcl": main, "nodes.hcl": usersNodes, "users.hcl": strings.Replace(users, "abc", "abd", 1)}), Options{})
	if other.Hash == c.Hash {
		t.Error("changing a password hash leaves the cluster hash alone")
	}
}

// TestUsersFromProfile: users merge like the other lists: a profile's
// list applies to its nodes, a node's own list replaces it.
func TestUsersFromProfile(t *testing.T) {
	nodes := strings.Replace(usersNodes, "  image            = image.rocky9\n", "  image            = image.rocky9\n  users            = [\"alice\"]\n", 1)
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": nodes, "users.hcl": usersHCL}), Options{})
	for node, want := range map[string][]string{"c001": {"alice"}, "c002": {"bob"}, "c003": {}} {
		n, _ := c.Node(node)
		if !slices.Equal(n.Users, want) {
			t.Errorf("node %s: users %v, want %v", node, n.Users, want)
		}
	}
	if n, _ := c.Node("c001"); n.Origins["users"].Filename != "nodes.hcl" || n.Origins["users"].Start.Line != 4 {
		t.Errorf("users of c001 set at %v, want the profile's attribute (nodes.hcl:4)", n.Origins["users"])
	}
}

// TestUsersUnknownOnce: an unknown name in a profile's users is reported
// once, at the profile's attribute, not once per node.
func TestUsersUnknownOnce(t *testing.T) {
	nodes := strings.Replace(usersNodes, "  image            = image.rocky9\n", "  image            = image.rocky9\n  users            = [\"carol\"]\n", 1)
	nodes = strings.Replace(strings.Replace(nodes, "  users    = [\"bob\"]\n", "", 1), "  users    = []\n", "", 1) // three nodes inherit it
	_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": nodes, "users.hcl": usersHCL}), Options{})
	lines := errorLines(diags)
	if len(lines) != 1 || !strings.Contains(lines[0], `nodes.hcl:4`) || !strings.Contains(lines[0], `names "carol"`) {
		t.Errorf("diagnostics %q, want one at nodes.hcl:4", lines)
	}
}

// TestUsersPasswordFile: password_hash_file names a repository .age file;
// a new ciphertext is a new desired state.
func TestUsersPasswordFile(t *testing.T) {
	main := strings.Replace(baseHCL, `address = "10.99.0.1"`, "address = \"10.99.0.1\"\n  secure_runtime = true", 1)
	users := "user \"alice\" {\n  uid = 1001\n  password_hash_file = \"secrets/alice.hash.age\"\n}\nuser \"bob\" { uid = 1002 }\n"
	files := map[string]string{"main.hcl": main, "nodes.hcl": usersNodes, "users.hcl": users, "secrets/alice.hash.age": "age ciphertext 1"}
	c := mustLoad(t, mapFS(files), Options{})
	if u, _ := c.User("alice"); u.PasswordHashFile != "secrets/alice.hash.age" || u.PasswordFileSHA256 != sha256Hex("age ciphertext 1") || u.PasswordHash != "" {
		t.Errorf("alice = %+v", *u)
	}
	files["secrets/alice.hash.age"] = "age ciphertext 2"
	if mustLoad(t, mapFS(files), Options{}).Hash == c.Hash {
		t.Error("a new password_hash_file ciphertext leaves the cluster hash alone")
	}
	files["main.hcl"] = baseHCL
	_, diags := Load(mapFS(files), Options{})
	if msg := strings.Join(errorLines(diags), "\n"); !strings.Contains(msg, "users.hcl:3") || !strings.Contains(msg, "without secure_runtime") {
		t.Errorf("password_hash_file on a non-secure server: %s", msg)
	}
}
